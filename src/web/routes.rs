//! Mounting a route also lists it: every route the router serves is in
//! `route_table()`, so tests can walk all of them (a route added here is
//! covered without editing them). Add routes only through `Routes::add`.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter};
use axum::Router;

use super::state::ApiState;

/// Who a route is for, which decides how it answers a stranger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Area {
    /// No credentials needed (health, the API document, sign-in, assets).
    Public,
    /// JSON, bearer token.
    Api,
    /// HTML, session cookie.
    Dashboard,
}

/// One mounted route: method, path as mounted (`{syncId}` placeholders) and area.
#[derive(Clone, Debug)]
pub struct RouteInfo {
    pub method: Method,
    pub path: String,
    pub area: Area,
}

/// A router under construction and the list of what it mounts.
pub struct Routes {
    pub(super) router: Router<ApiState>,
    pub(super) table: Vec<RouteInfo>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes {
            router: Router::new(),
            table: Vec::new(),
        }
    }

    pub fn add<H, T>(mut self, area: Area, method: Method, path: &str, handler: H) -> Routes
    where
        H: Handler<T, ApiState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone())
            .unwrap_or_else(|_| unreachable!("routes use standard methods"));
        self.router = self.router.route(path, on(filter, handler));
        self.table.push(RouteInfo {
            method,
            path: path.to_string(),
            area,
        });
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.table.extend(other.table);
        self
    }
}

impl Default for Routes {
    fn default() -> Self {
        Routes::new()
    }
}
