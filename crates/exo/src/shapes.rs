//! PowerShell's JSON, read the way it is written.

use serde_json::Value;

/// A list that PowerShell may have written as a bare value (one element) or null (none).
pub fn list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Null => Vec::new(),
        Value::Array(items) => items.iter().filter(|i| !i.is_null()).collect(),
        other => vec![other],
    }
}

/// A field that may be absent (`None`: unknown, not false), a JSON boolean or `"True"`.
pub fn boolean(item: &Value, key: &str) -> Option<bool> {
    match item.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        Value::Number(n) => n.as_i64().map(|n| n != 0),
        _ => None,
    }
}

pub fn text(item: &Value, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A name, exactly as written (a cmdlet's `-Identity` must match it), unless it is blank.
pub fn name(item: &Value, key: &str) -> Option<String> {
    match item.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Strings of a list field; values that are objects (`{ "value": … }`) give their `value`.
pub fn strings(item: &Value, key: &str) -> Vec<String> {
    item.get(key)
        .map(list)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Object(o) => o.get("value").or_else(|| o.get("Value")).and_then(|v| v.as_str()).map(str::to_string),
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// `smtp:*;1` (an address space: type, domain, cost) → `*`.
pub fn sender_domain(s: &str) -> String {
    let s = s.trim();
    let s = s.split_once(':').map_or(s, |(kind, rest)| if kind.eq_ignore_ascii_case("smtp") { rest } else { s });
    s.split(';').next().unwrap_or(s).trim().to_string()
}

/// An enum written as its name or as its number; `None` only when absent or null. A value
/// that is neither a known number nor a name comes back as its JSON text, which no name
/// matches: the caller must treat it as unknown, never as absent.
pub fn enum_name(item: &Value, key: &str, numbers: &[(i64, &'static str)]) -> Option<String> {
    let v = item.get(key).filter(|v| !v.is_null())?;
    let named = match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            n.as_i64().and_then(|n| numbers.iter().find(|(k, _)| *k == n)).map(|(_, name)| name.to_string())
        }
        Value::Object(o) => o.get("Value").or_else(|| o.get("value")).and_then(|v| v.as_str()).map(str::to_string),
        _ => None,
    };
    Some(named.unwrap_or_else(|| v.to_string()))
}

/// `/Date(1700000000000)/` or ISO 8601, as ISO text (UTC seconds) for the report.
pub fn date(item: &Value, key: &str) -> Option<String> {
    let s = text(item, key)?;
    if let Some(ms) = s.strip_prefix("/Date(").and_then(|r| r.strip_suffix(")/")) {
        let ms: i64 = ms.split(['+', '-']).next()?.parse().ok()?;
        return Some(format!("unix {}", ms / 1000));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn powershell_shapes() {
        assert_eq!(list(&json!("a")).len(), 1);
        assert_eq!(list(&json!(null)).len(), 0);
        assert_eq!(list(&json!(["a", null, "b"])).len(), 2);
        let item = json!({"On": true, "Off": "False", "Null": null, "Ips": "1.2.3.4", "Domains": ["smtp:*;1"], "Type": 2, "When": "/Date(1700000000000)/"});
        assert_eq!(boolean(&item, "On"), Some(true));
        assert_eq!(boolean(&item, "Off"), Some(false));
        assert_eq!(boolean(&item, "Null"), None);
        assert_eq!(boolean(&item, "Absent"), None, "absent is not false");
        assert_eq!(strings(&item, "Ips"), ["1.2.3.4"]);
        assert_eq!(sender_domain(&strings(&item, "Domains")[0]), "*");
        assert_eq!(sender_domain("smtp:contoso.com;1"), "contoso.com");
        assert_eq!(sender_domain("fabrikam.com"), "fabrikam.com");
        assert_eq!(enum_name(&item, "Type", &[(1, "OnPremises"), (2, "Partner")]).as_deref(), Some("Partner"));
        assert_eq!(date(&item, "When").as_deref(), Some("unix 1700000000"));
    }
}
