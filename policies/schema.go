package policies

// The REST API documents its policy bodies by reflection over the file-shaped structs the
// Stratos JSON decoder fills, so the OpenAPI schemas follow the decoder.

// StratosJSONShape returns a pointer to the file-shaped struct that DecodeStratosJSON decodes a
// kind's Stratos JSON into, or nil for a kind without a Stratos JSON form. The struct's yaml
// tags are the JSON keys; its types describe themselves with JSONSchema methods where reflection
// alone would mislead.
func StratosJSONShape(kind Kind) any {
	switch kind {
	case KindAutoscaling:
		return &fileAutoscaling{}
	case KindNetworkPartition:
		return &fileNetworkPartition{}
	case KindDeployment:
		return &fileDeployment{}
	case KindApplication:
		return &fileApplication{}
	}
	return nil
}

// JSONSchema is a scalar's schema: in Stratos JSON, numbers and booleans are read as their text.
func (str) JSONSchema() map[string]any {
	return map[string]any{"type": "string"}
}

// JSONSchema is a property list's schema: Stratos' [{name, value}] list, or an object of
// strings.
func (props) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "array", "items": map[string]any{
			"type": "object", "additionalProperties": false, "required": []string{"name", "value"},
			"properties": map[string]any{"name": map[string]any{"type": "string"}, "value": map[string]any{"type": "string"}},
		}},
		map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
	}}
}
