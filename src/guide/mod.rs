//! Guides: texts beside the API reference. Nothing here is code.

#[doc = include_str!("../../docs/program-files.md")]
pub mod program_files {}
