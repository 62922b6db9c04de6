//! task-starter: the Lambda handler, and the source-database check a CDC
//! start from an LSN needs.

pub mod handler;
pub mod recorder;
pub mod source_slots;
