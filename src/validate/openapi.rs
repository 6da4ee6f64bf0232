//! Routes, required parameters and request models from an OpenAPI 3.0 / 3.1
//! document, read from `serde_json::Value`. No tower types here.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::ParameterLocation;
use super::layer::{ModelRef, RequestValidatorDefinition, RouteRules, resolve_validator};
use super::model::{Draft, escape_pointer_token};
use crate::error::ConfigError;

const METHODS: [&str; 9] = [
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
    "x-amazon-apigateway-any-method",
];

pub(crate) struct Imported {
    /// The document as registered (OpenAPI 3.0's `nullable` rewritten).
    pub(crate) document: Value,
    pub(crate) routes: Vec<(String, RouteRules)>,
    pub(crate) draft: Option<Draft>,
}

fn error(message: impl std::fmt::Display) -> ConfigError {
    ConfigError::new(format!("request validator: OpenAPI: {message}"))
}

/// Follows a local `$ref` (`#/components/...`) until a non-reference
/// object; returns it with its JSON pointer.
fn deref<'a>(
    document: &'a Value,
    value: &'a Value,
    pointer: String,
) -> Result<(&'a Value, String), ConfigError> {
    let mut current = (value, pointer);
    for _ in 0..32 {
        let Some(reference) = current.0.get("$ref").and_then(Value::as_str) else {
            return Ok(current);
        };
        let target = reference.strip_prefix('#').ok_or_else(|| {
            error(format_args!(
                "only local references are supported here, not `{reference}`"
            ))
        })?;
        let found = document
            .pointer(target)
            .ok_or_else(|| error(format_args!("`{reference}` points at nothing")))?;
        current = (found, target.to_owned());
    }
    Err(error("a chain of `$ref`s is too long or circular"))
}

fn draft_of(document: &Value) -> Result<Draft, ConfigError> {
    if document.get("swagger").is_some() {
        return Err(error(
            "Swagger / OpenAPI 2.0 is not supported; convert it to 3.x",
        ));
    }
    let version = document
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or_else(|| error("the document has no `openapi` version"))?;
    if version.starts_with("3.0") {
        return Ok(Draft::Draft4);
    }
    if !version.starts_with("3.1") {
        return Err(error(format_args!("version `{version}` is not 3.0 or 3.1")));
    }
    match document.get("jsonSchemaDialect").and_then(Value::as_str) {
        None | Some("https://spec.openapis.org/oas/3.1/dialect/base") => Ok(Draft::Draft202012),
        Some(dialect) => match dialect.trim_end_matches('#') {
            "https://json-schema.org/draft/2020-12/schema" => Ok(Draft::Draft202012),
            "https://json-schema.org/draft/2019-09/schema" => Ok(Draft::Draft201909),
            "http://json-schema.org/draft-07/schema" => Ok(Draft::Draft7),
            "http://json-schema.org/draft-06/schema" => Ok(Draft::Draft6),
            "http://json-schema.org/draft-04/schema" => Ok(Draft::Draft4),
            other => Err(error(format_args!(
                "jsonSchemaDialect `{other}` is not supported"
            ))),
        },
    }
}

/// OpenAPI 3.0's `nullable: true` is not JSON Schema: it becomes a `null`
/// in `type` (and in `enum`).
fn rewrite_nullable(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if object.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(ty)) = object.get("type") {
                    let ty = Value::String(ty.clone());
                    object.insert("type".into(), Value::Array(vec![ty, "null".into()]));
                }
                if let Some(Value::Array(options)) = object.get_mut("enum")
                    && !options.contains(&Value::Null)
                {
                    options.push(Value::Null);
                }
            }
            object.values_mut().for_each(rewrite_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

fn parameters_of<'a>(
    document: &'a Value,
    holder: &'a Value,
    pointer: &str,
    out: &mut Vec<(ParameterLocation, String, bool)>,
) -> Result<(), ConfigError> {
    let Some(list) = holder.get("parameters") else {
        return Ok(());
    };
    let list = list
        .as_array()
        .ok_or_else(|| error(format_args!("`{pointer}/parameters` is not an array")))?;
    for (index, parameter) in list.iter().enumerate() {
        let (parameter, at) = deref(document, parameter, format!("{pointer}/parameters/{index}"))?;
        let name = parameter
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| error(format_args!("`{at}` has no name")))?;
        let location = match parameter.get("in").and_then(Value::as_str) {
            Some("path") => ParameterLocation::Path,
            Some("query") => ParameterLocation::QueryString,
            Some("header") => ParameterLocation::Header,
            Some("cookie") => {
                tracing::debug!(parameter = name, "cookie parameters are not validated");
                continue;
            }
            _ => return Err(error(format_args!("`{at}` has no valid `in`"))),
        };
        let required = parameter.get("required").and_then(Value::as_bool) == Some(true);
        // An operation's parameter overrides the path item's of the same name and location.
        out.retain(|(l, n, _)| !(*l == location && n == name));
        out.push((location, name.to_owned(), required));
    }
    Ok(())
}

fn model_name(schema: &Value, fallback: String) -> String {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .map_or(fallback, str::to_owned)
}

#[allow(clippy::too_many_arguments)]
fn operation_rules(
    document: &Value,
    uri: &str,
    key: &str,
    path_item: &Value,
    operation: &Value,
    pointer: &str,
    validators: &BTreeMap<String, RequestValidatorDefinition>,
    api_validator: Option<&str>,
) -> Result<RouteRules, ConfigError> {
    let own_validator = operation
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str);
    let mut rules =
        RouteRules::new().validator(resolve_validator(validators, own_validator, api_validator)?);
    let path_pointer = pointer.rsplit_once('/').map_or("", |(p, _)| p);
    let mut parameters = Vec::new();
    parameters_of(document, path_item, path_pointer, &mut parameters)?;
    parameters_of(document, operation, pointer, &mut parameters)?;
    for (location, name, required) in parameters {
        if required {
            rules = rules.required_parameter(location, name);
        }
    }
    if let Some(body) = operation.get("requestBody") {
        let (body, body_pointer) = deref(document, body, format!("{pointer}/requestBody"))?;
        rules = rules.body_required(body.get("required").and_then(Value::as_bool) == Some(true));
        let content = body.get("content").and_then(Value::as_object);
        for (media_type, entry) in content.into_iter().flatten() {
            let Some(schema) = entry.get("schema") else {
                continue;
            };
            let target = if media_type == "*/*" {
                "$default".to_owned()
            } else if media_type.contains('*') {
                tracing::warn!(
                    route = key,
                    media_type,
                    "media type ranges other than */* are not validated"
                );
                continue;
            } else {
                media_type.clone()
            };
            let schema_pointer = format!(
                "{body_pointer}/content/{}/schema",
                escape_pointer_token(media_type)
            );
            let name = model_name(schema, format!("{key} {media_type}"));
            rules = rules.model_ref(
                target,
                ModelRef::Uri {
                    uri: format!("{uri}#{}", pointer_to_fragment(&schema_pointer)),
                    name,
                },
            );
        }
    }
    Ok(rules)
}

/// A JSON pointer as a URI fragment: characters outside the fragment set
/// percent-encoded.
fn pointer_to_fragment(pointer: &str) -> String {
    const FRAGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'<')
        .add(b'>')
        .add(b'`')
        .add(b'#')
        .add(b'%')
        .add(b'{')
        .add(b'}')
        .add(b'|')
        .add(b'\\')
        .add(b'^')
        .add(b'[')
        .add(b']');
    percent_encoding::utf8_percent_encode(pointer, FRAGMENT).to_string()
}

pub(crate) fn import(document: &Value, uri: &str) -> Result<Imported, ConfigError> {
    let draft = draft_of(document)?;
    let mut registered = document.clone();
    if draft == Draft::Draft4 {
        rewrite_nullable(&mut registered);
    }
    let validators: BTreeMap<String, RequestValidatorDefinition> =
        match document.get("x-amazon-apigateway-request-validators") {
            None => BTreeMap::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| error(format_args!("x-amazon-apigateway-request-validators: {e}")))?,
        };
    let api_validator = document
        .get("x-amazon-apigateway-request-validator")
        .and_then(Value::as_str);
    let empty = Map::new();
    let paths = match document.get("paths") {
        None => &empty,
        Some(paths) => paths
            .as_object()
            .ok_or_else(|| error("`paths` is not an object"))?,
    };
    let mut routes = Vec::new();
    for (path, item) in paths {
        let item_pointer = format!("/paths/{}", escape_pointer_token(path));
        let (item, item_pointer) = deref(document, item, item_pointer)?;
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let verb = if method.starts_with("x-") {
                "ANY".to_owned()
            } else {
                method.to_ascii_uppercase()
            };
            let key = format!("{verb} {path}");
            let pointer = format!("{item_pointer}/{method}");
            let rules = operation_rules(
                document,
                uri,
                &key,
                item,
                operation,
                &pointer,
                &validators,
                api_validator,
            )?;
            routes.push((key, rules));
        }
    }
    Ok(Imported {
        document: registered,
        routes,
        draft: Some(draft),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_becomes_a_null_type() {
        let mut schema =
            json!({"properties": {"a": {"type": "string", "nullable": true, "enum": ["x"]}}});
        rewrite_nullable(&mut schema);
        assert_eq!(schema["properties"]["a"]["type"], json!(["string", "null"]));
        assert_eq!(schema["properties"]["a"]["enum"], json!(["x", null]));
    }

    #[test]
    fn versions_select_drafts() {
        assert_eq!(
            draft_of(&json!({"openapi": "3.0.3"})).unwrap(),
            Draft::Draft4
        );
        assert_eq!(
            draft_of(&json!({"openapi": "3.1.0"})).unwrap(),
            Draft::Draft202012
        );
        assert!(draft_of(&json!({"swagger": "2.0"})).is_err());
        assert!(draft_of(&json!({})).is_err());
    }

    #[test]
    fn operation_parameters_override_path_parameters() {
        let doc = json!({
            "openapi": "3.0.3",
            "components": {"parameters": {"Q": {"name": "q", "in": "query", "required": true}}},
            "paths": {"/a/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": true},
                               {"name": "h", "in": "header", "required": true}],
                "get": {"parameters": [{"$ref": "#/components/parameters/Q"},
                                       {"name": "h", "in": "header", "required": false}]}
            }}
        });
        let imported = import(&doc, "https://apigw.invalid/openapi.json").unwrap();
        assert_eq!(imported.routes.len(), 1);
        let (key, rules) = &imported.routes[0];
        assert_eq!(key, "GET /a/{id}");
        assert_eq!(
            *rules,
            RouteRules::new().required_path("id").required_query("q")
        );
    }

    #[test]
    fn fragment_encoding_keeps_pointer_syntax() {
        assert_eq!(
            pointer_to_fragment("/paths/~1a~1{id}/get"),
            "/paths/~1a~1%7Bid%7D/get"
        );
    }
}
