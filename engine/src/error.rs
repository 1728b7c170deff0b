//! Why the engine produced no page. Channels turn these into responses.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No page has this id.
    #[error("no page \"{0}\"")]
    PageNotFound(String),
    /// The user lacks a token the page requires.
    #[error("page \"{0}\" needs access the user does not have")]
    Forbidden(String),
    /// The page's layout failed to render (its fragments did not).
    #[error("the layout of page \"{page}\" failed: {detail}")]
    Layout { page: String, detail: String },
}
