// Package groups is Baton's multi-model groups (SageMaker multi-model
// endpoints done right): one pipeline stage serves any model of a group, the
// target is named per request, models load on first use into a per-instance
// memory budget, and the least valuable ones are evicted under measured
// memory pressure — never one in use, never two loads of the same model.
//
//   - spec.go: the group spec (members or a pattern, budget in bytes or a
//     share of measured free memory, pinned, prewarm, maxLoaded, policy,
//     maxConcurrentLoads) and its validation.
//   - manager.go: Manager, the executor's Router for group stages. A target
//     that is loaded is a hit (the least busy instance holding it); a cold
//     target waits for the model's one shared load (singleflight), which
//     picks an instance (already holds it, then most free budget, then one
//     where eviction makes room), takes that instance's load slot
//     (maxConcurrentLoads), admits the model into the instance's
//     eviction.Cache (victims chosen there, one load's worth per turn),
//     unloads the victims (waiting until Triton's index says they are
//     gone), loads the model with the stage's instance_group through the
//     loader within the load rate limit, then corrects its size to the
//     measured footprint. Every routed request holds a reference until its
//     call ends, so a model in use is never a victim; a fresh load stays
//     pinned until the requests that waited for it hold it. A cold request
//     that finds the budget held by members in use waits (up to its
//     deadline) instead of failing. Failed loads are remembered with a
//     doubling backoff; an instance that dies during a load is marked
//     unhealthy and the load moves to another.
//   - metrics.go, view.go: Prometheus series and the admin view
//     (GET /admin/groups/{name}).
//   - eviction/: the pure budget accounting and policies (LRU, cost-aware
//     GDSF), shared with the trace replay in benchmarks/groupsim.
//
// Footprints: Triton's memory_usage when the backend reports it, else the
// resident memory of the model's Python stubs (servers on this host), else
// the repository estimate (files × 4 + 64 MiB), replaced by the largest
// measured member of the group once one is measured. Memory that does not
// come back after an unload (the unload failed, or stubs outlived it) is
// counted per instance (baton_group_memory_unreturned_bytes) and shown in
// the admin view.
package groups
