//! `template.yaml` as CloudFormation reads it: intrinsic functions in short
//! (`!Sub`) and long (`Fn::Sub`) form shown as comparable text, parameters and
//! conditions evaluated, a rendering for given parameter values (what
//! CloudFormation deploys) and string expressions evaluated with the names of
//! a deployed stack. Shared by the template tests and the role checks
//! ([`crate::iam`]).

use std::collections::BTreeMap;

use serde_yaml::Value as Yaml;

/// The repository's `template.yaml`, parsed.
pub fn template() -> Yaml {
    let path = crate::repo_root().join("template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("template.yaml is not YAML: {e}"))
}

/// A template value as comparable text: scalars as themselves, intrinsic
/// functions as `Ref(X)`, `GetAtt(X.Y)`, `Sub(...)`, `If(...)` (short and long
/// forms alike).
pub fn show(v: &Yaml) -> String {
    fn call(name: &str, arg: &Yaml) -> String {
        let inner = match (name, arg) {
            ("GetAtt", Yaml::Sequence(parts)) => {
                parts.iter().map(show).collect::<Vec<_>>().join(".")
            }
            (_, Yaml::Sequence(items)) => items.iter().map(show).collect::<Vec<_>>().join(", "),
            _ => show(arg),
        };
        format!("{name}({inner})")
    }
    match v {
        Yaml::Null => "null".into(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(s) => s.clone(),
        Yaml::Tagged(t) => call(t.tag.to_string().trim_start_matches('!'), &t.value),
        Yaml::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().unwrap();
            match k.as_str() {
                Some("Ref") => call("Ref", arg),
                Some(f) if f.starts_with("Fn::") => call(&f[4..], arg),
                _ => serde_yaml::to_string(v).unwrap().trim().to_owned(),
            }
        }
        Yaml::Sequence(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
    }
}

/// `v[path...]`, panicking with the path when absent.
pub fn at<'a>(v: &'a Yaml, path: &[&str]) -> &'a Yaml {
    let mut cur = v;
    for (i, key) in path.iter().enumerate() {
        cur = cur
            .get(*key)
            .unwrap_or_else(|| panic!("template.yaml has no {}", path[..=i].join(".")));
    }
    cur
}

/// An intrinsic function as (name, argument), in short (`!If x`) or long
/// (`Fn::If: x`, `Ref: x`) form.
pub fn intrinsic(v: &Yaml) -> Option<(String, &Yaml)> {
    match v {
        Yaml::Tagged(tagged) => Some((
            tagged.tag.to_string().trim_start_matches('!').to_owned(),
            &tagged.value,
        )),
        Yaml::Mapping(m) if m.len() == 1 => {
            let (k, arg) = m.iter().next().unwrap();
            match k.as_str()? {
                "Ref" => Some(("Ref".into(), arg)),
                f => f.strip_prefix("Fn::").map(|f| (f.to_owned(), arg)),
            }
        }
        _ => None,
    }
}

pub fn args(v: &Yaml) -> &[Yaml] {
    v.as_sequence().map(|s| s.as_slice()).unwrap_or_default()
}

/// Every parameter's value: its default unless `overrides` names it.
pub fn parameter_values(t: &Yaml, overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut values: BTreeMap<String, String> = at(t, &["Parameters"])
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, p)| (show(k), show(at(p, &["Default"]))))
        .collect();
    for (name, value) in overrides {
        let allowed = at(t, &["Parameters", name]).get("AllowedValues");
        if let Some(allowed) = allowed {
            assert!(
                args(allowed).iter().any(|a| show(a) == *value),
                "{name} does not allow {value}"
            );
        }
        values.insert(name.to_string(), value.to_string());
    }
    values
}

/// Every condition of the template, evaluated for `params`.
pub fn conditions(t: &Yaml, params: &BTreeMap<String, String>) -> BTreeMap<String, bool> {
    fn value(v: &Yaml, params: &BTreeMap<String, String>) -> String {
        match intrinsic(v) {
            Some((f, arg)) if f == "Ref" => params[&show(arg)].clone(),
            Some((f, _)) => panic!("condition operand {f} is not handled here"),
            None => show(v),
        }
    }
    fn eval(
        expr: &Yaml,
        t: &Yaml,
        params: &BTreeMap<String, String>,
        out: &mut BTreeMap<String, bool>,
    ) -> bool {
        if let Some(name) = expr
            .get("Condition")
            .filter(|_| expr.as_mapping().unwrap().len() == 1)
        {
            return named(&show(name), t, params, out);
        }
        let (f, arg) = intrinsic(expr).unwrap_or_else(|| panic!("condition {}", show(expr)));
        let a = args(arg);
        match f.as_str() {
            "Equals" => value(&a[0], params) == value(&a[1], params),
            "Not" => !eval(&a[0], t, params, out),
            "And" => a.iter().all(|c| eval(c, t, params, out)),
            "Or" => a.iter().any(|c| eval(c, t, params, out)),
            "Condition" => named(&show(arg), t, params, out),
            other => panic!("condition function {other}"),
        }
    }
    fn named(
        name: &str,
        t: &Yaml,
        params: &BTreeMap<String, String>,
        out: &mut BTreeMap<String, bool>,
    ) -> bool {
        if let Some(v) = out.get(name) {
            return *v;
        }
        let v = eval(at(t, &["Conditions", name]), t, params, out);
        out.insert(name.to_owned(), v);
        v
    }
    let mut out = BTreeMap::new();
    for name in at(t, &["Conditions"]).as_mapping().unwrap().keys() {
        named(&show(name), t, params, &mut out);
    }
    out
}

/// What CloudFormation deploys for these parameter values: resources and
/// outputs whose condition is false are gone, and every `Fn::If` (only those
/// on the conditions in `only`, when given) is replaced by its branch, an
/// `AWS::NoValue` branch removing the property or list item.
pub fn render(t: &Yaml, overrides: &[(&str, &str)], only: Option<&[&str]>) -> Yaml {
    let params = parameter_values(t, overrides);
    let conds = conditions(t, &params);
    fn resolve(v: &Yaml, conds: &BTreeMap<String, bool>, only: Option<&[&str]>) -> Option<Yaml> {
        match intrinsic(v) {
            Some((f, arg)) if f == "If" => {
                let a = args(arg);
                let name = show(&a[0]);
                if only.is_none_or(|o| o.contains(&name.as_str())) {
                    let chosen = if conds[&name] { &a[1] } else { &a[2] };
                    return resolve(chosen, conds, only);
                }
            }
            Some((f, arg)) if f == "Ref" && show(arg) == "AWS::NoValue" => return None,
            _ => {}
        }
        Some(match v {
            Yaml::Mapping(m) => Yaml::Mapping(
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), resolve(v, conds, only)?)))
                    .collect(),
            ),
            Yaml::Sequence(items) => Yaml::Sequence(
                items
                    .iter()
                    .filter_map(|v| resolve(v, conds, only))
                    .collect(),
            ),
            Yaml::Tagged(tagged) => {
                let mut tagged = tagged.clone();
                tagged.value = resolve(&tagged.value, conds, only).unwrap_or(Yaml::Null);
                Yaml::Tagged(tagged)
            }
            other => other.clone(),
        })
    }
    let mut out = t.clone();
    for section in ["Resources", "Outputs"] {
        let map = out.get_mut(section).unwrap().as_mapping_mut().unwrap();
        map.retain(|_, r| r.get("Condition").is_none_or(|c| conds[&show(c)]));
        for (_, r) in map.iter_mut() {
            *r = resolve(r, &conds, only).unwrap();
        }
    }
    if let Some(globals) = out.get_mut("Globals") {
        *globals = resolve(globals, &conds, only).unwrap();
    }
    out
}

/// The `${name}`s of a `Fn::Sub` string (`${!literal}` excluded).
pub fn sub_names(text: &str) -> Vec<String> {
    text.match_indices("${")
        .filter_map(|(i, _)| {
            let rest = &text[i + 2..];
            let name = &rest[..rest.find('}')?];
            (!name.starts_with('!')).then(|| name.to_owned())
        })
        .collect()
}

/// A string-valued template expression, evaluated: `Sub` (with its variable
/// map), `Ref`, `GetAtt`, `Select`, `Split`; names resolved by `lookup`.
pub fn evaluate(v: &Yaml, lookup: &dyn Fn(&str) -> String) -> String {
    let Some((f, arg)) = intrinsic(v) else {
        return show(v);
    };
    match f.as_str() {
        "Ref" => lookup(&show(arg)),
        "GetAtt" => lookup(&show(arg).replace(", ", ".")),
        "Sub" => {
            let (text, vars) = match arg {
                Yaml::Sequence(a) => (show(&a[0]), a[1].as_mapping().cloned()),
                other => (show(other), None),
            };
            let vars: BTreeMap<String, String> = vars
                .into_iter()
                .flatten()
                .map(|(k, v)| (show(&k), evaluate(&v, lookup)))
                .collect();
            let mut out = text.clone();
            for name in sub_names(&text) {
                let value = vars.get(&name).cloned().unwrap_or_else(|| lookup(&name));
                out = out.replace(&format!("${{{name}}}"), &value);
            }
            out
        }
        "Select" => {
            let a = args(arg);
            let index: usize = show(&a[0]).parse().unwrap();
            let list = match intrinsic(&a[1]) {
                Some((g, split)) if g == "Split" => {
                    let s = args(split);
                    evaluate(&s[1], lookup)
                        .split(&show(&s[0]))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                }
                _ => args(&a[1]).iter().map(|x| evaluate(x, lookup)).collect(),
            };
            list[index].clone()
        }
        other => panic!("{other} is not evaluated here"),
    }
}
