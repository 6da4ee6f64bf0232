use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tower_layer::Layer;

use super::body::MAX_DEPTH_BOUND;
use super::error::{ParameterLocation, RejectionKind};
use super::model::{
    CompiledModel, Compiler, Draft, MODEL_BASE_URI, OPENAPI_BASE_URI, PatternEngine, SchemaSet,
    empty_model,
};
use super::openapi;
use super::params::Required;
use super::service::RequestValidator;
use crate::error::ConfigError;
use crate::problem::{GatewayResponses, GatewayResponsesConfig};
use crate::route::{RouteKey, RouteTable};

/// API Gateway's 10 MB payload limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
/// Default deepest nesting of a JSON body.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// Default most violations reported for one body.
pub const DEFAULT_MAX_VIOLATIONS: usize = 100;

/// What a route validates, as API Gateway's request validators say
/// (`validateRequestBody`, `validateRequestParameters`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestValidatorKind {
    /// The body only ("Validate body").
    Body,
    /// Required parameters only ("Validate query string parameters and
    /// headers").
    Parameters,
    /// Both, parameters first ("Validate body, query string parameters, and
    /// headers"). Default.
    #[default]
    BodyAndParameters,
    /// Nothing: the route's rules are declared but not enforced.
    Off,
}

impl RequestValidatorKind {
    /// From API Gateway's two flags.
    #[must_use]
    pub fn from_flags(validate_request_body: bool, validate_request_parameters: bool) -> Self {
        match (validate_request_body, validate_request_parameters) {
            (true, true) => Self::BodyAndParameters,
            (true, false) => Self::Body,
            (false, true) => Self::Parameters,
            (false, false) => Self::Off,
        }
    }

    pub(crate) fn body(self) -> bool {
        matches!(self, Self::Body | Self::BodyAndParameters)
    }

    pub(crate) fn parameters(self) -> bool {
        matches!(self, Self::Parameters | Self::BodyAndParameters)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ModelRef {
    Named(String),
    Inline(Value),
    /// A schema inside a registered document (OpenAPI), with a display name.
    Uri {
        uri: String,
        name: String,
    },
}

/// One route's validation rules: its validator kind, required parameters
/// and request models by content type.
///
/// ```
/// use apigw::validate::{RequestValidatorKind, RouteRules};
///
/// let rules = RouteRules::new()
///     .validator(RequestValidatorKind::BodyAndParameters)
///     .required_query("dryRun")
///     .required_header("x-tenant")
///     .model("application/json", "Order");
/// # let _ = rules;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct RouteRules {
    validator: RequestValidatorKind,
    parameters: Vec<(ParameterLocation, String)>,
    models: Vec<(String, ModelRef)>,
    require_json: bool,
    body_optional: bool,
}

impl RouteRules {
    /// No rules yet; the validator kind is
    /// [`BodyAndParameters`](RequestValidatorKind::BodyAndParameters).
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a body with a model must be present. When false, an empty
    /// body passes unchecked (OpenAPI's `requestBody.required: false`).
    /// Default: true — an empty body is not JSON and is answered 400.
    pub fn body_required(mut self, yes: bool) -> Self {
        self.body_optional = !yes;
        self
    }

    /// What the route validates. Default:
    /// [`BodyAndParameters`](RequestValidatorKind::BodyAndParameters).
    pub fn validator(mut self, kind: RequestValidatorKind) -> Self {
        self.validator = kind;
        self
    }

    /// A parameter that must be present and non-blank.
    pub fn required_parameter(
        mut self,
        location: ParameterLocation,
        name: impl Into<String>,
    ) -> Self {
        self.parameters.push((location, name.into()));
        self
    }

    /// A required query-string parameter (`method.request.querystring.<name>`).
    pub fn required_query(self, name: impl Into<String>) -> Self {
        self.required_parameter(ParameterLocation::QueryString, name)
    }

    /// A required header (`method.request.header.<name>`).
    pub fn required_header(self, name: impl Into<String>) -> Self {
        self.required_parameter(ParameterLocation::Header, name)
    }

    /// A required path parameter (`method.request.path.<name>`).
    pub fn required_path(self, name: impl Into<String>) -> Self {
        self.required_parameter(ParameterLocation::Path, name)
    }

    /// The model (registered with
    /// [`RequestValidatorLayerBuilder::model`], or API Gateway's built-in
    /// `Empty`) for bodies of `media_type` (`application/json`), as
    /// `requestModels` maps them. `$default` applies to content types that
    /// have no model of their own.
    pub fn model(mut self, media_type: impl Into<String>, model: impl Into<String>) -> Self {
        self.models
            .push((media_type.into(), ModelRef::Named(model.into())));
        self
    }

    /// A schema for bodies of `media_type`, given inline.
    pub fn model_schema(mut self, media_type: impl Into<String>, schema: Value) -> Self {
        self.models
            .push((media_type.into(), ModelRef::Inline(schema)));
        self
    }

    pub(crate) fn model_ref(mut self, media_type: String, model: ModelRef) -> Self {
        self.models.push((media_type, model));
        self
    }

    /// Whether the route takes JSON only: with body validation on, a request
    /// whose content type is not JSON (`application/json`, `*/*+json`, or
    /// none) is answered 415 `UNSUPPORTED_MEDIA_TYPE`, as API Gateway's
    /// `passthroughBehavior: NEVER`. Default: false — bodies of content types
    /// with no model pass through unread, as in API Gateway.
    pub fn require_json(mut self, yes: bool) -> Self {
        self.require_json = yes;
        self
    }
}

/// A route's rules, compiled.
#[derive(Debug)]
pub(crate) struct CompiledRoute {
    pub(crate) validator: RequestValidatorKind,
    pub(crate) parameters: Vec<Required>,
    /// Lower-case media type → model; `$default` last.
    pub(crate) models: Vec<(String, Arc<CompiledModel>)>,
    pub(crate) default_model: Option<Arc<CompiledModel>>,
    pub(crate) require_json: bool,
    pub(crate) body_optional: bool,
}

impl CompiledRoute {
    pub(crate) fn model_for(&self, media_type: &str) -> Option<&Arc<CompiledModel>> {
        self.models
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(media_type))
            .map(|(_, model)| model)
            .or(self.default_model.as_ref())
    }
}

/// Counters of what the validator did, shared by every clone of a layer
/// and its services. Read a snapshot with [`RequestValidatorLayer::counters`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    checked: AtomicU64,
    passed: AtomicU64,
    rejected: [AtomicU64; 7],
    shadowed: [AtomicU64; 7],
}

fn kind_index(kind: RejectionKind) -> usize {
    match kind {
        RejectionKind::MissingParameters => 0,
        RejectionKind::InvalidBody => 1,
        RejectionKind::MalformedJson => 2,
        RejectionKind::DuplicateKey => 3,
        RejectionKind::TooDeep => 4,
        RejectionKind::TooLarge => 5,
        RejectionKind::UnsupportedMediaType => 6,
    }
}

const KINDS: [RejectionKind; 7] = [
    RejectionKind::MissingParameters,
    RejectionKind::InvalidBody,
    RejectionKind::MalformedJson,
    RejectionKind::DuplicateKey,
    RejectionKind::TooDeep,
    RejectionKind::TooLarge,
    RejectionKind::UnsupportedMediaType,
];

impl Counters {
    pub(crate) fn checked(&self) {
        self.checked.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn passed(&self) {
        self.passed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn rejected(&self, kind: RejectionKind) {
        self.rejected[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn shadowed(&self, kind: RejectionKind) {
        self.shadowed[kind_index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> ValidationCounters {
        let by_kind = |counters: &[AtomicU64; 7]| {
            KINDS
                .iter()
                .map(|kind| (*kind, counters[kind_index(*kind)].load(Ordering::Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        ValidationCounters {
            checked: self.checked.load(Ordering::Relaxed),
            passed: self.passed.load(Ordering::Relaxed),
            rejected: by_kind(&self.rejected),
            shadowed: by_kind(&self.shadowed),
        }
    }
}

/// A snapshot of a validator's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationCounters {
    /// Requests on a route with rules.
    pub checked: u64,
    /// Of those, the requests that passed every check.
    pub passed: u64,
    /// Requests answered with a rejection, by kind.
    pub rejected: HashMap<RejectionKind, u64>,
    /// Requests that failed a check and were let through in shadow mode, by
    /// the kind they would have been rejected with.
    pub shadowed: HashMap<RejectionKind, u64>,
}

impl ValidationCounters {
    /// Rejections of `kind`.
    #[must_use]
    pub fn rejected(&self, kind: RejectionKind) -> u64 {
        self.rejected.get(&kind).copied().unwrap_or(0)
    }

    /// Shadow-mode failures of `kind`.
    #[must_use]
    pub fn shadowed(&self, kind: RejectionKind) -> u64 {
        self.shadowed.get(&kind).copied().unwrap_or(0)
    }
}

pub(crate) struct Shared {
    pub(crate) routes: RouteTable<CompiledRoute>,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_violations: usize,
    pub(crate) shadow: bool,
    pub(crate) responses: GatewayResponses,
    pub(crate) counters: Counters,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestValidator")
            .field("routes", &self.routes.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_depth", &self.max_depth)
            .field("max_violations", &self.max_violations)
            .field("shadow", &self.shadow)
            .finish_non_exhaustive()
    }
}

/// Validates requests against per-route rules before they reach the inner
/// service. See the [module docs](super) for what is checked and how
/// requests are rejected. Cheap to clone.
#[derive(Clone, Debug)]
#[must_use]
pub struct RequestValidatorLayer {
    shared: Arc<Shared>,
}

impl RequestValidatorLayer {
    /// A builder.
    pub fn builder() -> RequestValidatorLayerBuilder {
        RequestValidatorLayerBuilder::default()
    }

    /// What the validator has done so far, over every clone.
    #[must_use]
    pub fn counters(&self) -> ValidationCounters {
        self.shared.counters.snapshot()
    }
}

impl<S> Layer<S> for RequestValidatorLayer {
    type Service = RequestValidator<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestValidator::new(inner, Arc::clone(&self.shared))
    }
}

/// Builds a [`RequestValidatorLayer`]. Every model is compiled and every
/// reference resolved by [`build`](Self::build).
#[derive(Debug, Default)]
#[must_use]
pub struct RequestValidatorLayerBuilder {
    set: SchemaSet,
    models: Vec<(String, Value)>,
    routes: Vec<(String, RouteRules)>,
    openapi_documents: usize,
    max_body_bytes: Option<usize>,
    max_depth: Option<usize>,
    max_violations: Option<usize>,
    shadow: bool,
    responses: GatewayResponses,
}

impl RequestValidatorLayerBuilder {
    /// The draft models are read as when they have no `$schema`. Default:
    /// [`Draft::Draft4`], API Gateway's.
    pub fn draft(mut self, draft: Draft) -> Self {
        self.set.draft = draft;
        self
    }

    /// How `pattern` is matched. Default: [`PatternEngine::Linear`].
    pub fn pattern_engine(mut self, engine: PatternEngine) -> Self {
        self.set.patterns = engine;
        self
    }

    /// Whether `format` is checked. Default: the draft's own rule (checked
    /// for drafts 4, 6 and 7; an annotation in 2019-09 and 2020-12).
    pub fn validate_formats(mut self, yes: bool) -> Self {
        self.set.validate_formats = Some(yes);
        self
    }

    /// A named model, as API Gateway's `Model` (`name` + `schema`). Models
    /// live at `https://apigw.invalid/models/<name>` and refer to each other
    /// with `{"$ref": "<name>"}`. API Gateway's `Empty` model is built in.
    pub fn model(mut self, name: impl Into<String>, schema: Value) -> Self {
        self.models.push((name.into(), schema));
        self
    }

    /// Any other schema document a model refers to, registered in memory at
    /// `uri`. Nothing is ever fetched: a `$ref` to a URI that is neither a
    /// model nor a registered resource fails [`build`](Self::build).
    pub fn resource(mut self, uri: impl Into<String>, document: Value) -> Self {
        self.set.resources.push((uri.into(), document));
        self
    }

    /// Rules for one route, by API Gateway route key (`POST /orders`,
    /// `ANY /{proxy+}`, or `$default` for everything else — also what to use
    /// under axum's `route_layer`).
    pub fn route(mut self, key: &str, rules: RouteRules) -> Result<Self, ConfigError> {
        let _: RouteKey = key.parse()?;
        self.routes.push((key.to_owned(), rules));
        Ok(self)
    }

    /// Routes, required parameters, models and request validators from an
    /// OpenAPI 3.0 or 3.1 document (see the [module docs](super#openapi)).
    /// Sets the [draft](Self::draft) to the document's: draft 4 for 3.0,
    /// 2020-12 (or `jsonSchemaDialect`) for 3.1.
    pub fn openapi(mut self, document: &Value) -> Result<Self, ConfigError> {
        self.openapi_documents += 1;
        let uri = if self.openapi_documents == 1 {
            OPENAPI_BASE_URI.to_owned()
        } else {
            OPENAPI_BASE_URI.replace(
                "openapi.json",
                &format!("openapi-{}.json", self.openapi_documents),
            )
        };
        let imported = openapi::import(document, &uri)?;
        if let Some(draft) = imported.draft {
            self.set.draft = draft;
        }
        self.set.resources.push((uri, imported.document));
        for (key, rules) in imported.routes {
            self = self.route(&key, rules)?;
        }
        Ok(self)
    }

    /// The largest body read for validation; larger ones are 413
    /// `REQUEST_TOO_LARGE`, from `Content-Length` before reading when the
    /// request has one, else as soon as the stream passes it. Default:
    /// 10 MiB ([`DEFAULT_MAX_BODY_BYTES`]), API Gateway's limit.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = Some(bytes);
        self
    }

    /// The deepest nesting of arrays and objects in a body, 1 to 127
    /// (`serde_json`'s own bound). Default: 64 ([`DEFAULT_MAX_DEPTH`]).
    pub fn max_depth(mut self, depth: usize) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// The most violations listed for one body (the response then says
    /// `errorsTruncated: true`). Default: 100 ([`DEFAULT_MAX_VIOLATIONS`]).
    pub fn max_violations(mut self, count: usize) -> Self {
        self.max_violations = Some(count);
        self
    }

    /// Shadow mode: check, log and count every request, but let failing
    /// ones through. The body size limit still applies: a body over it
    /// cannot be handed on after being partly read. Default: false.
    pub fn shadow(mut self, yes: bool) -> Self {
        self.shadow = yes;
        self
    }

    /// How rejections are rendered. Default: `GatewayResponses::default()`
    /// (RFC 9457 problems).
    pub fn gateway_responses(mut self, responses: GatewayResponses) -> Self {
        self.responses = responses;
        self
    }

    /// Compiles every model and checks every setting.
    pub fn build(self) -> Result<RequestValidatorLayer, ConfigError> {
        let max_body_bytes = self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let max_depth = self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH);
        let max_violations = self.max_violations.unwrap_or(DEFAULT_MAX_VIOLATIONS);
        if max_body_bytes == 0 {
            return Err(ConfigError::new(
                "request validator: maxBodyBytes must be positive",
            ));
        }
        if !(1..=MAX_DEPTH_BOUND).contains(&max_depth) {
            return Err(ConfigError::new(format!(
                "request validator: maxDepth must be between 1 and {MAX_DEPTH_BOUND}"
            )));
        }
        if max_violations == 0 {
            return Err(ConfigError::new(
                "request validator: maxViolations must be positive",
            ));
        }

        let mut set = self.set;
        let mut names: Vec<&str> = Vec::new();
        for (name, schema) in &self.models {
            if name.is_empty() || name.contains(['/', '#', '?']) {
                return Err(ConfigError::new(format!(
                    "request validator: `{name}` is not a valid model name"
                )));
            }
            if names.contains(&name.as_str()) {
                return Err(ConfigError::new(format!(
                    "request validator: model `{name}` is defined twice"
                )));
            }
            names.push(name);
            set.resources
                .push((format!("{MODEL_BASE_URI}{name}"), schema.clone()));
        }
        if !names.contains(&"Empty") {
            set.resources
                .push((format!("{MODEL_BASE_URI}Empty"), empty_model()));
            names.push("Empty");
        }
        // Inline schemas become resources too, so that they can be compiled
        // through the one registry.
        let mut inline = 0usize;
        let mut targets: Vec<Vec<(String, String, String)>> = Vec::new();
        for (key, rules) in &self.routes {
            let mut route_targets = Vec::new();
            for (media_type, model) in &rules.models {
                let (name, uri) = match model {
                    ModelRef::Named(name) => {
                        if !names.contains(&name.as_str()) {
                            return Err(ConfigError::new(format!(
                                "request validator: route `{key}` uses model `{name}`, which is not defined"
                            )));
                        }
                        (name.clone(), format!("{MODEL_BASE_URI}{name}"))
                    }
                    ModelRef::Inline(schema) => {
                        inline += 1;
                        let uri = format!("https://apigw.invalid/inline/{inline}");
                        set.resources.push((uri.clone(), schema.clone()));
                        (format!("{key} {media_type}"), uri)
                    }
                    ModelRef::Uri { uri, name } => (name.clone(), uri.clone()),
                };
                route_targets.push((media_type.to_ascii_lowercase(), name, uri));
            }
            targets.push(route_targets);
        }

        let mut compiler = Compiler::new(set)?;
        let mut table = RouteTable::builder();
        for ((key, rules), route_targets) in self.routes.into_iter().zip(targets) {
            let mut models = Vec::new();
            let mut default_model = None;
            for (media_type, name, uri) in route_targets {
                let model = compiler.compile(&name, &uri)?;
                if media_type == "$default" {
                    default_model = Some(model);
                } else if media_type.contains('/') {
                    models.push((media_type, model));
                } else {
                    return Err(ConfigError::new(format!(
                        "request validator: route `{key}` maps `{media_type}`, which is not a media type"
                    )));
                }
            }
            let parameters = rules
                .parameters
                .iter()
                .map(|(location, name)| Required::new(*location, name))
                .collect::<Result<Vec<_>, _>>()?;
            let route = CompiledRoute {
                validator: rules.validator,
                parameters,
                models,
                default_model,
                require_json: rules.require_json,
                body_optional: rules.body_optional,
            };
            table = table.route(&key, route)?;
        }
        Ok(RequestValidatorLayer {
            shared: Arc::new(Shared {
                routes: table.build()?,
                max_body_bytes,
                max_depth,
                max_violations,
                shadow: self.shadow,
                responses: self.responses,
                counters: Counters::default(),
            }),
        })
    }
}

/// A request validator `{validateRequestBody, validateRequestParameters}`,
/// as in API Gateway's `x-amazon-apigateway-request-validators`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestValidatorDefinition {
    /// Validate the body against the route's model. Default: false.
    #[serde(default)]
    pub validate_request_body: bool,
    /// Validate the route's required parameters. Default: false.
    #[serde(default)]
    pub validate_request_parameters: bool,
}

/// One route's rules as configuration, in API Gateway's vocabulary.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteValidationConfig {
    /// The name of a validator in `requestValidators`. Default: the API's
    /// `requestValidator`, else body and parameters.
    #[serde(default)]
    pub request_validator: Option<String>,
    /// `method.request.{path|querystring|header}.<name>` → required.
    /// Entries set to `false` are declared but optional, and not checked.
    #[serde(default)]
    pub request_parameters: BTreeMap<String, bool>,
    /// Media type → model name.
    #[serde(default)]
    pub request_models: BTreeMap<String, String>,
    /// 415 for content types that are not JSON. Default: false.
    #[serde(default)]
    pub require_json: bool,
}

/// A [`RequestValidatorLayer`] as configuration (JSON, TOML, YAML):
///
/// ```json
/// {
///   "requestValidators": { "all": { "validateRequestBody": true, "validateRequestParameters": true } },
///   "requestValidator": "all",
///   "models": { "Order": { "type": "object", "required": ["sku"] } },
///   "routes": {
///     "POST /orders": {
///       "requestParameters": { "method.request.header.x-tenant": true },
///       "requestModels": { "application/json": "Order" }
///     }
///   }
/// }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestValidatorConfig {
    /// Default: `draft-04`.
    #[serde(default)]
    pub draft: Draft,
    /// Default: `linear`.
    #[serde(default)]
    pub pattern_engine: PatternEngine,
    /// Default: the draft's own rule.
    #[serde(default)]
    pub validate_formats: Option<bool>,
    /// Named validators. Default: none.
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidatorDefinition>,
    /// The validator of routes that name none. Default: none, which means
    /// body and parameters.
    #[serde(default)]
    pub request_validator: Option<String>,
    /// Models by name. Default: none (`Empty` is built in).
    #[serde(default)]
    pub models: BTreeMap<String, Value>,
    /// Other schema documents by URI. Default: none.
    #[serde(default)]
    pub resources: BTreeMap<String, Value>,
    /// Rules by route key. Default: none.
    #[serde(default)]
    pub routes: BTreeMap<String, RouteValidationConfig>,
    /// An OpenAPI 3.0/3.1 document to import as well. Default: none.
    #[serde(default)]
    pub openapi: Option<Value>,
    /// Default: 10485760.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// Default: 64.
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// Default: 100.
    #[serde(default)]
    pub max_violations: Option<usize>,
    /// Default: false.
    #[serde(default)]
    pub shadow: bool,
    /// How rejections are rendered. Default: problem+json.
    #[serde(default)]
    pub gateway_responses: Option<GatewayResponsesConfig>,
}

/// Parses `method.request.querystring.q` into its location and name.
pub(crate) fn parse_parameter(key: &str) -> Result<(ParameterLocation, &str), ConfigError> {
    let rest = key.strip_prefix("method.request.").ok_or_else(|| {
        ConfigError::new(format!(
            "request validator: `{key}` is not `method.request.<location>.<name>`"
        ))
    })?;
    let (location, name) = rest.split_once('.').unwrap_or((rest, ""));
    let location = match location {
        "path" => ParameterLocation::Path,
        "querystring" => ParameterLocation::QueryString,
        "header" => ParameterLocation::Header,
        other => {
            return Err(ConfigError::new(format!(
                "request validator: `{other}` in `{key}` is not path, querystring or header"
            )));
        }
    };
    Ok((location, name))
}

/// The validator kind a route gets: its own named one, the API's default,
/// or both checks.
pub(crate) fn resolve_validator(
    validators: &BTreeMap<String, RequestValidatorDefinition>,
    own: Option<&str>,
    api_default: Option<&str>,
) -> Result<RequestValidatorKind, ConfigError> {
    match own.or(api_default) {
        None => Ok(RequestValidatorKind::BodyAndParameters),
        Some(name) => validators
            .get(name)
            .map(|v| {
                RequestValidatorKind::from_flags(
                    v.validate_request_body,
                    v.validate_request_parameters,
                )
            })
            .ok_or_else(|| {
                ConfigError::new(format!(
                    "request validator: validator `{name}` is not defined"
                ))
            }),
    }
}

impl TryFrom<RequestValidatorConfig> for RequestValidatorLayer {
    type Error = ConfigError;

    fn try_from(config: RequestValidatorConfig) -> Result<Self, ConfigError> {
        RequestValidatorLayerBuilder::try_from(config)?.build()
    }
}

impl TryFrom<RequestValidatorConfig> for RequestValidatorLayerBuilder {
    type Error = ConfigError;

    /// The builder for `config`, so what the document cannot say (gateway
    /// responses shared with other layers, a clock) can still be set.
    fn try_from(config: RequestValidatorConfig) -> Result<Self, ConfigError> {
        let mut builder = RequestValidatorLayer::builder()
            .draft(config.draft)
            .pattern_engine(config.pattern_engine)
            .shadow(config.shadow);
        if let Some(yes) = config.validate_formats {
            builder = builder.validate_formats(yes);
        }
        if let Some(bytes) = config.max_body_bytes {
            builder = builder.max_body_bytes(bytes);
        }
        if let Some(depth) = config.max_depth {
            builder = builder.max_depth(depth);
        }
        if let Some(count) = config.max_violations {
            builder = builder.max_violations(count);
        }
        if let Some(responses) = config.gateway_responses {
            builder = builder.gateway_responses(responses.try_into()?);
        }
        for (name, schema) in config.models {
            builder = builder.model(name, schema);
        }
        for (uri, document) in config.resources {
            builder = builder.resource(uri, document);
        }
        for (key, route) in config.routes {
            let mut rules = RouteRules::new()
                .validator(resolve_validator(
                    &config.request_validators,
                    route.request_validator.as_deref(),
                    config.request_validator.as_deref(),
                )?)
                .require_json(route.require_json);
            for (parameter, required) in &route.request_parameters {
                let (location, name) = parse_parameter(parameter)?;
                if *required {
                    rules = rules.required_parameter(location, name);
                }
            }
            for (media_type, model) in route.request_models {
                rules = rules.model(media_type, model);
            }
            builder = builder.route(&key, rules)?;
        }
        if let Some(document) = config.openapi {
            builder = builder.openapi(&document)?;
        }
        Ok(builder)
    }
}
