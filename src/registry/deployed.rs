//! The Kubernetes manifests admit every call the registry says the services make: each
//! service's NetworkPolicy (in `deploy/k8s/base/<service>.yaml`) names, among its
//! callers, every service that calls it over HTTP (`calls`) and every service that reads
//! its events (`subscriptions`: a consumer asks its producers' `/events/head` before it
//! is ready, and on the embedded transport reads their logs). A caller left out is a pod
//! that never becomes ready on a cluster that enforces policies, and nothing on a
//! cluster that does not: so it is checked here, where every build sees it.

use super::REGISTRY;
use std::collections::BTreeSet;

/// The callers `service`'s NetworkPolicy lets in: the names in its `values: [...]` list,
/// or `None` when it admits every pod of the shop (identity: everyone verifies tokens
/// with its keys) or any source (the gateway).
fn admitted(service: &str) -> Option<BTreeSet<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/k8s/base")
        .join(format!("{service}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, policy) = text
        .split_once("kind: NetworkPolicy")
        .unwrap_or_else(|| panic!("{}: no NetworkPolicy", path.display()));
    let ingress = policy
        .split_once("ingress:")
        .map(|(_, rules)| rules)
        .unwrap_or_else(|| panic!("{}: a NetworkPolicy without ingress rules", path.display()));
    if ingress.contains("app.kubernetes.io/part-of: bazaar") || !ingress.contains("from:") {
        return None;
    }
    let list = ingress
        .lines()
        .find_map(|line| line.trim().strip_prefix("values: ["))
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{}: no `values: [...]` of callers", path.display()));
    Some(list.split(',').map(|name| name.trim().to_owned()).collect())
}

#[test]
fn every_network_policy_admits_the_services_that_call_it_or_read_its_events() {
    let mut missing = Vec::new();
    for entry in REGISTRY.entries() {
        let callee = entry.def.name;
        let Some(admitted) = admitted(callee) else {
            continue;
        };
        for caller in REGISTRY.entries().iter().map(|e| e.def) {
            let calls = caller.calls.contains(&callee);
            let reads = caller.subscriptions.iter().any(|s| s.producer == callee);
            if (calls || reads) && !admitted.contains(caller.name) {
                let why = if calls {
                    "calls it"
                } else {
                    "reads its events"
                };
                missing.push(format!("{callee} does not admit {} ({why})", caller.name));
            }
        }
    }
    assert!(missing.is_empty(), "deploy/k8s/base: {missing:#?}");
}
