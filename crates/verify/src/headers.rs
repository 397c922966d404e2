/// Read access to request headers by case-insensitive name.
///
/// API Gateway v2 and function URLs lower-case header names, v1 keeps them as
/// sent; every implementation here matches names without regard to case.
pub trait Headers {
    /// The first value of the header `name` (any case), if present and valid UTF-8.
    fn header(&self, name: &str) -> Option<&str>;
}

impl Headers for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        // `HeaderMap` names are already lower-case; `get` with a `&str` parses and
        // lower-cases `name`.
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for [(K, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, S> Headers for std::collections::HashMap<K, V, S> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for std::collections::BTreeMap<K, V> {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_case() {
        let pairs = vec![("X-Webhook-Signature", "t=1,v1=ab")];
        assert_eq!(pairs.header("x-webhook-signature"), Some("t=1,v1=ab"));
        assert_eq!(pairs.header("X-WEBHOOK-SIGNATURE"), Some("t=1,v1=ab"));
        assert_eq!(pairs.header("x-webhook-id"), None);

        let mut map = http::HeaderMap::new();
        map.insert("X-SD-WEBHOOK-CONTENT-HASH", "abc".parse().unwrap());
        assert_eq!(map.header("x-sd-webhook-content-hash"), Some("abc"));
        assert_eq!(map.header("X-SD-Webhook-Content-Hash"), Some("abc"));
    }
}
