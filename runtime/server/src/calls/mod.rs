//! Calls and their lifecycle: a tool ready to run (`live`), the calls running on this node
//! (`running`: cancel, progress), and calls kept in the store while they run (`tasks`: leases,
//! answers, the ones a dead node left; `task_writer`: their writes, group-committed). The one execution path that uses them is
//! `api/execute.rs`.

pub mod live;
pub mod request_state;
pub mod running;
pub mod scan;
pub mod task_writer;
pub mod tasks;
