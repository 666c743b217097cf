//! Reproducible guest images: a Linux kernel and a root file system for the microVM, each with a
//! pinned digest and a manifest of what went into it.
//!
//! Nothing is implemented here yet (issue #4); `hrun` exposes none of it until it is.
