"""The server roles, one module each (see docs/architecture.md). They import the protocol libraries;
nothing outside this package imports it."""
