//! Rendering shipped templates the way the engine does, for the template tests.

use minijinja::{context, path_loader, Environment, UndefinedBehavior, Value};
use serde_json::json;

use super::workspace_dir;

pub fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_loader(path_loader(workspace_dir().join("templates")));
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A tenth of the engine's default budget: the shipped templates must
    // stay far from the limit that would fail them in production.
    env.set_fuel(Some(100_000));
    env
}

pub fn signed_in() -> Value {
    Value::from_serialize(json!({"id": "alice", "name": "Alice Keller", "anonymous": false}))
}

pub fn guest() -> Value {
    Value::from_serialize(json!({"id": "anonymous", "name": "Guest", "anonymous": true}))
}

/// Renders fragment template `name` as the engine would.
pub fn render_fragment(
    name: &str,
    id: &str,
    title: &str,
    model: Value,
    params: serde_json::Value,
    user: Value,
) -> String {
    let env = env();
    let tmpl = env
        .get_template(name)
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    tmpl.render(context! {
        model,
        params => Value::from_serialize(params),
        user,
        fragment => context! { id, title },
    })
    .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

pub fn json_model(v: serde_json::Value) -> Value {
    Value::from_serialize(v)
}
