//! End-to-end tests of job networks in namespaces the tests make.
