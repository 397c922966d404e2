use lambda_http::http::Method;
use verify::Provider;

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST …/webhooks/{provider}`.
    Webhook(Provider),
    /// A webhook path with another method.
    MethodNotAllowed,
    /// Anything else, including unknown providers.
    NotFound,
}

/// Routes `…/webhooks/{provider}` under any prefix (an API Gateway stage such as
/// `/prod`, or none for HTTP API `$default` and function URLs). A trailing slash
/// is tolerated.
pub fn route(method: &Method, path: &str) -> Route {
    let mut segments = path.split('/').filter(|s| !s.is_empty()).rev();
    let (Some(provider), Some("webhooks")) = (segments.next(), segments.next()) else {
        return Route::NotFound;
    };
    let Ok(provider) = provider.parse::<Provider>() else {
        return Route::NotFound;
    };
    if method == Method::POST {
        Route::Webhook(provider)
    } else {
        Route::MethodNotAllowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let post = Method::POST;
        assert_eq!(
            route(&post, "/webhooks/spotdraft"),
            Route::Webhook(Provider::SpotDraft)
        );
        assert_eq!(
            route(&post, "/prod/webhooks/subnoto"),
            Route::Webhook(Provider::Subnoto)
        );
        assert_eq!(
            route(&post, "/webhooks/subnoto/"),
            Route::Webhook(Provider::Subnoto)
        );
        assert_eq!(
            route(&post, "/webhooks/docusign"),
            Route::Webhook(Provider::DocuSign)
        );
        assert_eq!(route(&post, "/webhooks/adobesign"), Route::NotFound);
        assert_eq!(route(&post, "/webhooks"), Route::NotFound);
        assert_eq!(route(&post, "/"), Route::NotFound);
        assert_eq!(route(&post, "/other/spotdraft"), Route::NotFound);
        assert_eq!(
            route(&Method::GET, "/webhooks/spotdraft"),
            Route::MethodNotAllowed
        );
    }
}
