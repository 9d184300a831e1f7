//! The observer seam: the gateway tells the application when agents come and go.

use crate::agent_id::AgentId;

/// Told when an agent's authenticated connection becomes live on the gateway and when it
/// stops being live. Set with [`GatewayBuilder::events`](crate::GatewayBuilder::events); an
/// application uses it, for example, to record agent ownership in a shared registry.
///
/// # Guarantees
///
/// - Every connection that authenticates gets exactly one [`connected`](Self::connected) and,
///   later, exactly one [`disconnected`](Self::disconnected) call (on close, loss, gateway
///   drain, or replacement).
/// - Calls for one gateway are made one at a time, in the order the agent table changed. So
///   for one id they alternate, starting with `connected`: when a second connection with the
///   same id replaces the first, `disconnected(id)` (the old connection) comes right before
///   `connected(id)` (the new one), and a `disconnected` of a connection that was already
///   replaced is never reported again.
///
/// # Contract
///
/// The methods run on the gateway's tasks while its agent table is locked (that is what keeps
/// the order exact): they must be quick, must not block, and must not call the
/// [`Gateway`](crate::Gateway) (that would deadlock). Hand the event to a channel or a task.
pub trait AgentEvents: Send + Sync + 'static {
    /// `agent` has a new live, authenticated connection.
    fn connected(&self, agent: &AgentId);

    /// `agent`'s connection that was last reported connected is no longer live.
    fn disconnected(&self, agent: &AgentId);
}

impl<T: AgentEvents + ?Sized> AgentEvents for std::sync::Arc<T> {
    fn connected(&self, agent: &AgentId) {
        (**self).connected(agent);
    }

    fn disconnected(&self, agent: &AgentId) {
        (**self).disconnected(agent);
    }
}
