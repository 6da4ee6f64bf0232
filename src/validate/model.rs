//! JSON Schema models compiled once, in memory, with no way to reach a file
//! or the network. No tower types here.

use std::collections::HashMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{PatternOptions, ReferencingError, Registry, Retrieve, Uri, ValidationError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::Violation;
use crate::error::ConfigError;

/// The base URI under which models are registered: a model named `Order`
/// is `https://apigw.invalid/models/Order`, so models refer to each other
/// with `{"$ref": "Order"}` (relative) or the full URI. The `.invalid`
/// top-level domain never resolves, and nothing is ever fetched anyway.
pub const MODEL_BASE_URI: &str = "https://apigw.invalid/models/";

/// The base URI of the first imported OpenAPI document; later ones are
/// `https://apigw.invalid/openapi-2.json`, and so on.
pub const OPENAPI_BASE_URI: &str = "https://apigw.invalid/openapi.json";

/// API Gateway's built-in `Empty` model, always registered unless replaced.
pub(crate) fn empty_model() -> Value {
    serde_json::json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "Empty Schema",
        "type": "object"
    })
}

/// The JSON Schema draft models are read as, unless a model says otherwise
/// with `$schema`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Draft {
    /// Draft 4, the dialect of API Gateway's models. Default.
    #[default]
    #[serde(rename = "draft-04")]
    Draft4,
    /// Draft 6.
    #[serde(rename = "draft-06")]
    Draft6,
    /// Draft 7.
    #[serde(rename = "draft-07")]
    Draft7,
    /// Draft 2019-09.
    #[serde(rename = "2019-09")]
    Draft201909,
    /// Draft 2020-12, the dialect of OpenAPI 3.1.
    #[serde(rename = "2020-12")]
    Draft202012,
}

impl Draft {
    fn to_jsonschema(self) -> jsonschema::Draft {
        match self {
            Self::Draft4 => jsonschema::Draft::Draft4,
            Self::Draft6 => jsonschema::Draft::Draft6,
            Self::Draft7 => jsonschema::Draft::Draft7,
            Self::Draft201909 => jsonschema::Draft::Draft201909,
            Self::Draft202012 => jsonschema::Draft::Draft202012,
        }
    }
}

/// How `pattern` and `patternProperties` are matched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub enum PatternEngine {
    /// The `regex` crate: linear time in the input, whatever the pattern, so
    /// no request can make matching slow. Patterns with look-around or
    /// back-references do not compile: `build()` fails naming the model.
    /// Default.
    #[default]
    Linear,
    /// `fancy-regex`: look-around and back-references, with a backtracking
    /// VM for the patterns that need it, stopped after `backtrack_limit`
    /// steps. A pattern that hits the limit fails validation (closed).
    Backtracking {
        /// Backtracking steps before a match gives up.
        backtrack_limit: NonZeroUsize,
    },
}

impl PatternEngine {
    /// The backtracking engine with `fancy-regex`'s own limit of 1,000,000
    /// steps.
    #[must_use]
    pub fn backtracking() -> Self {
        Self::Backtracking {
            backtrack_limit: NonZeroUsize::new(1_000_000).unwrap_or(NonZeroUsize::MIN),
        }
    }
}

/// Everything models are compiled from.
#[derive(Clone, Debug, Default)]
pub(crate) struct SchemaSet {
    pub(crate) draft: Draft,
    pub(crate) patterns: PatternEngine,
    pub(crate) validate_formats: Option<bool>,
    /// Documents by absolute URI: models, OpenAPI documents, extra resources.
    pub(crate) resources: Vec<(String, Value)>,
}

/// A compiled model.
pub(crate) struct CompiledModel {
    name: Arc<str>,
    validator: jsonschema::Validator,
}

impl fmt::Debug for CompiledModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledModel")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Refuses every retrieval: a `$ref` to anything not registered is a
/// configuration error, never a file read or a connection.
struct Refuse;

impl Retrieve for Refuse {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("`{uri}` is not registered; apigw never fetches schemas").into())
    }
}

/// Compiles models against one in-memory registry.
pub(crate) struct Compiler {
    set: SchemaSet,
    registry: Registry<'static>,
    cache: HashMap<String, Arc<CompiledModel>>,
}

impl fmt::Debug for Compiler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Compiler")
            .field("draft", &self.set.draft)
            .finish_non_exhaustive()
    }
}

fn referencing_error(error: &ReferencingError) -> ConfigError {
    ConfigError::new(format!("request validator: schema registry: {error}"))
}

impl Compiler {
    pub(crate) fn new(set: SchemaSet) -> Result<Self, ConfigError> {
        let mut builder = Registry::new()
            .retriever(Refuse)
            .draft(set.draft.to_jsonschema());
        for (uri, document) in &set.resources {
            builder = builder
                .add(uri, document.clone())
                .map_err(|e| referencing_error(&e))?;
        }
        let registry = builder.prepare().map_err(|e| referencing_error(&e))?;
        Ok(Self {
            set,
            registry,
            cache: HashMap::new(),
        })
    }

    /// Compiles (once) the schema at `uri` (a registered document, or a
    /// fragment of one), naming it `name` in errors.
    pub(crate) fn compile(
        &mut self,
        name: &str,
        uri: &str,
    ) -> Result<Arc<CompiledModel>, ConfigError> {
        if let Some(model) = self.cache.get(uri) {
            return Ok(Arc::clone(model));
        }
        // A whole registered document compiles as itself (so that it is the
        // outermost dynamic scope, as `$recursiveRef` / `$dynamicRef` need);
        // a fragment of one (an OpenAPI schema) through a `$ref`.
        let wrapper;
        let (schema, base) = match self.set.resources.iter().find(|(u, _)| u == uri) {
            Some((_, document)) => (document, uri),
            None => {
                wrapper = serde_json::json!({ "$ref": uri });
                (&wrapper, "https://apigw.invalid/compile")
            }
        };
        let mut options = jsonschema::options()
            .with_draft(self.set.draft.to_jsonschema())
            .with_retriever(Refuse)
            .with_base_uri(base)
            .with_registry(&self.registry);
        options = match self.set.patterns {
            PatternEngine::Linear => options.with_pattern_options(PatternOptions::regex()),
            PatternEngine::Backtracking { backtrack_limit } => options.with_pattern_options(
                PatternOptions::fancy_regex().backtrack_limit(backtrack_limit.get()),
            ),
        };
        if let Some(yes) = self.set.validate_formats {
            options = options.should_validate_formats(yes);
        }
        let validator = options.build(schema).map_err(|e| {
            ConfigError::new(format!(
                "request validator: model `{name}` does not compile: {e}"
            ))
        })?;
        let model = Arc::new(CompiledModel {
            name: Arc::from(name),
            validator,
        });
        self.cache.insert(uri.to_owned(), Arc::clone(&model));
        Ok(model)
    }
}

impl CompiledModel {
    /// The model's name (a model name, or `components/schemas` name, or the
    /// route and media type it was declared for).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Every violation of `instance`, at most `limit`; the flag says whether
    /// there were more.
    pub(crate) fn violations(&self, instance: &Value, limit: usize) -> (Vec<Violation>, bool) {
        if self.validator.is_valid(instance) {
            return (Vec::new(), false);
        }
        let mut violations = Vec::new();
        for error in self.validator.iter_errors(instance) {
            if violations.len() >= limit {
                return (violations, true);
            }
            push_violations(&error, &mut violations);
        }
        let truncated = violations.len() > limit;
        violations.truncate(limit);
        (violations, truncated)
    }
}

/// Turns one `jsonschema` error into violations whose messages never contain
/// a value from the request (keys appear only in pointers).
fn push_violations(error: &ValidationError<'_>, out: &mut Vec<Violation>) {
    let pointer = error.instance_path().as_str();
    let kind = error.kind();
    let keyword = kind.keyword();
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            for name in unexpected {
                out.push(Violation::new(
                    format!("{pointer}/{}", escape_pointer_token(name)),
                    keyword,
                    format!("property is not allowed by `{keyword}`"),
                ));
            }
        }
        ValidationErrorKind::PropertyNames { error } => out.push(Violation::new(
            pointer,
            keyword,
            format!("a property name is invalid: {}", error.masked_with("name")),
        )),
        ValidationErrorKind::BacktrackLimitExceeded { .. } => out.push(Violation::new(
            pointer,
            keyword,
            "value could not be matched within the pattern engine's backtracking limit",
        )),
        ValidationErrorKind::RegexEngineFailure { .. } => out.push(Violation::new(
            pointer,
            keyword,
            "value could not be matched by the pattern engine",
        )),
        ValidationErrorKind::Referencing(_) => out.push(Violation::new(
            pointer,
            keyword,
            "a reference in the model could not be resolved",
        )),
        _ => out.push(Violation::new(
            pointer,
            keyword,
            error.masked_with("value").to_string(),
        )),
    }
}

/// Escapes a JSON pointer reference token (RFC 6901).
pub(crate) fn escape_pointer_token(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        std::borrow::Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiler(resources: Vec<(String, Value)>, patterns: PatternEngine) -> Compiler {
        Compiler::new(SchemaSet {
            patterns,
            resources,
            ..SchemaSet::default()
        })
        .unwrap()
    }

    #[test]
    fn models_refer_to_each_other_by_relative_name() {
        let mut c = compiler(
            vec![
                (
                    format!("{MODEL_BASE_URI}Order"),
                    json!({"type": "object", "properties": {"item": {"$ref": "Item"}}}),
                ),
                (
                    format!("{MODEL_BASE_URI}Item"),
                    json!({"type": "object", "required": ["sku"]}),
                ),
            ],
            PatternEngine::Linear,
        );
        let model = c
            .compile("Order", &format!("{MODEL_BASE_URI}Order"))
            .unwrap();
        assert!(
            model
                .violations(&json!({"item": {"sku": 1}}), 10)
                .0
                .is_empty()
        );
        let (violations, truncated) = model.violations(&json!({"item": {}}), 10);
        assert!(!truncated);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].pointer(), "/item");
        assert_eq!(violations[0].keyword(), "required");
    }

    #[test]
    fn messages_do_not_echo_values() {
        let mut c = compiler(
            vec![(
                format!("{MODEL_BASE_URI}M"),
                json!({"properties": {"a": {"type": "integer"}, "b": {"maxLength": 2}},
                       "additionalProperties": false}),
            )],
            PatternEngine::Linear,
        );
        let model = c.compile("M", &format!("{MODEL_BASE_URI}M")).unwrap();
        let (violations, _) = model.violations(
            &json!({"a": "secret-a", "b": "secret-b", "x/y": "secret-c"}),
            10,
        );
        assert_eq!(violations.len(), 3);
        let text = serde_json::to_string(&violations).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("/x~1y"), "{text}");
    }

    #[test]
    fn violations_are_capped() {
        let mut c = compiler(
            vec![(
                format!("{MODEL_BASE_URI}M"),
                json!({"type": "array", "items": {"type": "string"}}),
            )],
            PatternEngine::Linear,
        );
        let model = c.compile("M", &format!("{MODEL_BASE_URI}M")).unwrap();
        let (violations, truncated) = model.violations(&json!([1, 2, 3, 4, 5]), 3);
        assert_eq!(violations.len(), 3);
        assert!(truncated);
    }

    #[test]
    fn unregistered_reference_is_a_config_error() {
        for reference in ["file:///etc/passwd", "http://127.0.0.1:1/x", "Missing"] {
            let err = Compiler::new(SchemaSet {
                resources: vec![(format!("{MODEL_BASE_URI}M"), json!({"$ref": reference}))],
                ..SchemaSet::default()
            })
            .unwrap_err();
            assert!(err.message().contains("not registered"), "{err}");
        }
    }

    #[test]
    fn linear_engine_refuses_lookaround_and_backtracking_accepts_it() {
        let resources = vec![(format!("{MODEL_BASE_URI}M"), json!({"pattern": "(?=a)a"}))];
        let uri = format!("{MODEL_BASE_URI}M");
        assert!(
            compiler(resources.clone(), PatternEngine::Linear)
                .compile("M", &uri)
                .is_err()
        );
        let model = compiler(resources, PatternEngine::backtracking())
            .compile("M", &uri)
            .unwrap();
        assert!(model.violations(&json!("a"), 1).0.is_empty());
    }
}
