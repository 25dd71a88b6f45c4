//! Cross-crate integration and end-to-end tests of Attune live in `tests/`; this library is
//! empty.
