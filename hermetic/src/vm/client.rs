//! placeholder
#[derive(Debug)]
pub struct AgentClient;
#[derive(Debug)]
pub struct AgentError;
