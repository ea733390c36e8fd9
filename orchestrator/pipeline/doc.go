// Package pipeline defines Baton's serial-pipeline spec (YAML or JSON), its
// validation and its compiled form for the executor.
//
// A pipeline has named input tensors, named output tensors and an ordered
// list of stages; each stage is a Triton model whose inputs map from tensors
// of the pipeline's namespace (pipeline inputs or earlier stages' outputs)
// and whose outputs map into it, the shape of Triton ensemble
// input_map/output_map. Validation reports every problem at once with a path
// to each; with a metadata source it also checks models, tensor names,
// datatypes and shapes against what Triton says.
//
// It is pure apart from calling the MetadataSource it is given: no network,
// no clock, no goroutines.
package pipeline
