//! NVIDIA GPU and NVSwitch attestation evidence.
