//! probe: see the module's issue; filled in by its step tool.
