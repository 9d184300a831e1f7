//! Routing: which rule a destination matches, and the order in which a route's chains are
//! tried (the first by weight, then the others).

use std::sync::atomic::{AtomicU64, Ordering};

use ferry_chain::{Address, Host};

use crate::config::{AccessConfig, RouteAction, RouteRule};

/// A route with its weighted-pick state.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) action: RouteAction,
    /// Connections routed so far (picks the first chain by weight).
    picks: AtomicU64,
    /// Weights of the route's chains, in the route's order.
    weights: Vec<u64>,
}

impl Route {
    fn new(action: RouteAction, config: &AccessConfig) -> Self {
        let weights = match &action {
            RouteAction::Chains(ids) => ids
                .iter()
                .map(|&i| {
                    config
                        .chains
                        .get(i)
                        .map_or(1, |c| u64::from(c.weight.get()))
                })
                .collect(),
            _ => Vec::new(),
        };
        Self {
            action,
            picks: AtomicU64::new(0),
            weights,
        }
    }

    /// The chains to try, in order: the weighted pick first, then the rest in route order.
    /// Over `W` (sum of weights) consecutive calls, chain `i` comes first `weight_i` times.
    pub(crate) fn chain_order(&self) -> Vec<usize> {
        let RouteAction::Chains(ids) = &self.action else {
            return Vec::new();
        };
        let total: u64 = self.weights.iter().sum::<u64>().max(1);
        let mut ticket = self.picks.fetch_add(1, Ordering::Relaxed) % total;
        let mut first = 0;
        for (i, w) in self.weights.iter().enumerate() {
            if ticket < *w {
                first = i;
                break;
            }
            ticket -= w;
        }
        let n = ids.len();
        (0..n)
            .filter_map(|k| ids.get((first + k) % n).copied())
            .collect()
    }
}

/// The routing table of an access run.
#[derive(Debug)]
pub(crate) struct Router {
    rules: Vec<(RouteRule, Route)>,
    default: Route,
}

impl Router {
    pub(crate) fn new(config: &AccessConfig) -> Self {
        Self {
            rules: config
                .routes
                .iter()
                .map(|r| (r.clone(), Route::new(r.action.clone(), config)))
                .collect(),
            default: Route::new(config.default_route.clone(), config),
        }
    }

    /// The route of `destination`: the first rule whose patterns match, else the default.
    pub(crate) fn route(&self, destination: &Address) -> &Route {
        let port = destination.port();
        self.rules
            .iter()
            .find(|(rule, _)| {
                let d = &rule.destinations;
                match destination.host() {
                    Host::V4(ip) => d.matches_ip((*ip).into(), port).is_allowed(),
                    Host::V6(ip) => d.matches_ip((*ip).into(), port).is_allowed(),
                    Host::Domain(name) => d.matches(name.as_str(), port).is_allowed(),
                }
            })
            .map_or(&self.default, |(_, route)| route)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn weights_decide_the_first_chain_and_the_rest_follow_in_order() {
        let config = AccessConfig::from_toml("").unwrap();
        let mut route = Route::new(RouteAction::Chains(vec![4, 7, 9]), &config);
        route.weights = vec![3, 1, 0];
        let firsts: Vec<usize> = (0..8).map(|_| route.chain_order()[0]).collect();
        assert_eq!(firsts, [4, 4, 4, 7, 4, 4, 4, 7]);
        // Zero weight: never first, still tried.
        route.picks.store(3, Ordering::Relaxed);
        assert_eq!(route.chain_order(), vec![7, 9, 4]);
        let direct = Route::new(RouteAction::Direct, &config);
        assert!(direct.chain_order().is_empty());
    }
}
