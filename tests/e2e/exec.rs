//! exec end-to-end tests (see the module's tool).
