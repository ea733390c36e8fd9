// Package eviction decides which models a multi-model group evicts from one
// instance's memory budget when a cold model must load.
//
// It owns the accounting for a single instance: which models are loaded,
// their footprints (bytes), pins and in-flight reference counts, and the
// eviction policy's ranking. It never evicts a pinned model or one with
// in-flight requests, and it tells "not now" (ErrNoRoom: models in use or
// pinned block the load) apart from "never" (ErrTooLarge: the model alone
// exceeds the budget).
//
// It must not do I/O, read a clock, start goroutines or hold locks: sizes
// and load costs are inputs, recency comes from a monotonic counter, and the
// caller (the group loader) serialises access and performs the actual
// unloads and loads. Admit is the "reserve" step of reserve → load →
// commit; Remove is the undo after a failed load or an unload.
//
// Policies are LRU (the default) and cost-aware (GreedyDual-Size-Frequency
// with cost = measured load time). The Policy seam is one priority function
// plus an eviction notice, small enough that the group simulator
// (benchmarks/groupsim) plugs in Belady's offline optimum.
package eviction
