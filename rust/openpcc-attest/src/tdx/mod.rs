//! Intel TDX.
