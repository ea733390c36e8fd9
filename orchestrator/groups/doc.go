// Package groups is Baton's multi-model groups (SageMaker multi-model
// endpoints done right): one pipeline stage serves any model of a group, the
// target is named per request, models load on first use into a per-instance
// memory budget, and the least valuable ones are evicted under measured
// memory pressure — never one in use, never two loads of the same model.
//
// Today it holds the group spec and its validation (spec.go) and, in
// eviction/, the pure eviction policies; the serving path (on-demand load,
// ref counts, budgets per instance) is the next step of the groups issue.
package groups
