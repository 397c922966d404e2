//! SpotDraft contract ids as the operator gives them and the re-trigger call sends them.

use std::fmt;

use crate::error::CliError;

/// A SpotDraft contract id as the webhooks carry it (`contract_id`): a
/// non-negative integer of any length, kept as its digits (ids wider than 64
/// bits stay exact, as the receiver keeps them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContractId(String);

impl ContractId {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks one contract id: decimal digits only, no sign, no leading zero
/// (JSON has no such number), no composite `T-`/`H-` id.
pub fn contract_id(raw: &str) -> Result<ContractId, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("an empty contract id".into());
    }
    if let Some(digits) = id
        .strip_prefix("T-")
        .or_else(|| id.strip_prefix("H-"))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{id:?} is a composite contract id (API paths use those); give the integer \
             contract_id the webhooks carry instead (for {id}, probably {digits})"
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{id:?} is not a contract id: contract ids are non-negative integers (e.g. 48213)"
        ));
    }
    if id.len() > 1 && id.starts_with('0') {
        return Err(format!(
            "{id:?} has a leading zero: write the contract id without it"
        ));
    }
    Ok(ContractId(id.to_owned()))
}

/// The re-trigger request body: `{"contract_ids":[N,…]}`, each id a JSON
/// number written exactly as given.
pub fn retrigger_body(ids: &[ContractId]) -> String {
    let list: Vec<&str> = ids.iter().map(ContractId::as_str).collect();
    format!("{{\"contract_ids\":[{}]}}", list.join(","))
}

/// The ids checked (a usage error names the first bad one) and deduplicated,
/// in the order given.
pub fn contract_ids(raw: &[String]) -> Result<Vec<ContractId>, CliError> {
    let mut ids: Vec<ContractId> = Vec::new();
    for r in raw {
        let id = contract_id(r).map_err(|e| CliError::usage(format!("--contract-id: {e}")))?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(CliError::usage("give at least one --contract-id"));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_ids_are_integers_kept_digit_for_digit() {
        let wide = "123456789012345678901234567890123456789012";
        assert_eq!(contract_id(" 48213 ").unwrap().as_str(), "48213");
        assert_eq!(contract_id("0").unwrap().as_str(), "0");
        assert_eq!(contract_id(wide).unwrap().as_str(), wide);
        for bad in ["", "12a", "-5", "+5", "1.0", "1e3", "007", "0x1F", "4 8"] {
            assert!(contract_id(bad).is_err(), "{bad}");
        }
        assert!(contract_id("T-48213")
            .unwrap_err()
            .contains("probably 48213"));
        let ids = [contract_id("48213").unwrap(), contract_id(wide).unwrap()];
        let body = retrigger_body(&ids);
        assert_eq!(body, format!("{{\"contract_ids\":[48213,{wide}]}}"));
        let parsed: std::collections::HashMap<String, Vec<Box<serde_json::value::RawValue>>> =
            serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed["contract_ids"][1].get(),
            wide,
            "valid JSON, digits kept"
        );
    }

    #[test]
    fn contract_ids_are_checked_and_deduplicated_in_order() {
        let raw = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ids = contract_ids(&raw(&["48213", "7", "48213"])).unwrap();
        assert_eq!(
            ids.iter().map(ContractId::as_str).collect::<Vec<_>>(),
            ["48213", "7"]
        );
        assert!(matches!(
            contract_ids(&raw(&["48213", "x"])),
            Err(CliError::Usage(m)) if m.contains("\"x\"")
        ));
        assert!(matches!(contract_ids(&[]), Err(CliError::Usage(_))));
    }
}
