package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// openAPI fetches the document without credentials and decodes it generically.
func openAPI(t *testing.T, e *testEnv, path string) map[string]any {
	t.Helper()
	r := e.do("GET", path, "", "", nil)
	if r.code != http.StatusOK || r.hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("GET %s without credentials: %d %s", path, r.code, r.body)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return doc
}

// The document is readable before login, under both mounts, and the rest of the API is not.
func TestOpenAPIIsPublic(t *testing.T) {
	e := newEnv(t)
	a, b := openAPI(t, e, "/api/openapi.json"), openAPI(t, e, "/api/v4.1/openapi.json")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("/api and /api/v4.1 serve different documents")
	}
	if r := e.do("GET", "/api/init", "", "", nil); r.code != http.StatusUnauthorized {
		t.Errorf("GET /api/init without credentials = %d, want 401", r.code)
	}
}

// get follows a JSON pointer ("#/components/schemas/X") through the document.
func get(doc map[string]any, ptr string) (any, bool) {
	var v any = doc
	for _, p := range strings.Split(strings.TrimPrefix(ptr, "#/"), "/") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")]; !ok {
			return nil, false
		}
	}
	return v, true
}

// The document is structurally valid OpenAPI 3.0: every $ref resolves, every path parameter is
// declared, operation ids are unique, every schema is a real one (no stub descriptions, no open
// objects but the two that are open on purpose) and every body has one.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	e := newEnv(t)
	doc := openAPI(t, e, "/api/openapi.json")
	if v, _ := doc["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		t.Errorf("openapi %q, want 3.0.x", v)
	}
	for _, k := range []string{"info", "paths", "components"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Fatalf("no %s object", k)
		}
	}
	if title, _ := get(doc, "#/info/title"); title == "" || title == nil {
		t.Error("info.title is empty")
	}

	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"]; ok {
				s, _ := r.(string)
				if _, found := get(doc, s); !strings.HasPrefix(s, "#/components/") || !found {
					t.Errorf("%s: $ref %q does not resolve", where, s)
				}
				if len(x) != 1 {
					t.Errorf("%s: $ref with siblings %v (ignored by OpenAPI 3.0)", where, x)
				}
			}
			for k, e := range x {
				walk(where+"/"+k, e)
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s/%d", where, i), e)
			}
		}
	}
	walk("#", doc)

	schemas, _ := get(doc, "#/components/schemas")
	for name, s := range schemas.(map[string]any) {
		b, _ := json.Marshal(s)
		if strings.Contains(string(b), "§") || strings.Contains(string(b), "Bean (") {
			t.Errorf("schema %s is a stub: %s", name, b)
		}
		obj, _ := s.(map[string]any)
		if open, _ := obj["additionalProperties"].(bool); open && name != "OpenAPIDocument" && name != "RepoNotification" {
			t.Errorf("schema %s accepts any key", name)
		}
		if obj["type"] == "object" && obj["properties"] == nil && obj["additionalProperties"] == false {
			t.Errorf("schema %s is an object without properties", name)
		}
	}

	ids := map[string]string{}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			op := o.(map[string]any)
			where := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			if other, dup := ids[id]; id == "" || dup {
				t.Errorf("%s: operationId %q (also %s)", where, id, other)
			}
			ids[id] = where
			var declared []string
			ps, _ := op["parameters"].([]any)
			for _, p := range ps {
				pm := p.(map[string]any)
				if pm["in"] == "path" && pm["required"] == true {
					declared = append(declared, pm["name"].(string))
				}
			}
			var want []string
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				want = append(want, m[1])
			}
			sort.Strings(declared)
			sort.Strings(want)
			if !slices.Equal(declared, want) {
				t.Errorf("%s: path parameters %v, want %v", where, declared, want)
			}
			responses, _ := op["responses"].(map[string]any)
			if len(responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for code, r := range responses {
				rm := r.(map[string]any)
				if rm["$ref"] == nil && rm["description"] == nil {
					t.Errorf("%s: response %s has no description", where, code)
				}
				if code[0] == '2' && code != "204" && rm["content"] == nil {
					t.Errorf("%s: response %s has no body schema", where, code)
				}
			}
			if method == "post" || method == "put" {
				if _, ok := get(doc, "#/paths/"+strings.ReplaceAll(path, "/", "~1")+"/"+method+"/requestBody/content/application~1json/schema"); !ok &&
					!strings.Contains(path, "/deploy/") && !strings.HasSuffix(path, "/undeploy") && !strings.HasSuffix(path, "/reload") && !strings.Contains(path, "/tenants/") &&
					!strings.HasSuffix(path, "/signup") && !strings.Contains(path, "/signup/") {
					t.Errorf("%s: no request body schema", where)
				}
			}
		}
	}
}

// validate checks a JSON value against an OpenAPI schema (the subset the document uses: $ref,
// type, properties, additionalProperties, items, oneOf, enum) and returns every problem.
func validate(doc map[string]any, schema map[string]any, v any, where string) []string {
	if r, ok := schema["$ref"].(string); ok {
		s, _ := get(doc, r)
		return validate(doc, s.(map[string]any), v, where)
	}
	if alts, ok := schema["oneOf"].([]any); ok {
		matched := 0
		var why []string
		for _, a := range alts {
			p := validate(doc, a.(map[string]any), v, where)
			if len(p) == 0 {
				matched++
			}
			why = append(why, p...)
		}
		if matched != 1 {
			return []string{fmt.Sprintf("%s: %v matches %d of oneOf (%s)", where, v, matched, strings.Join(why, "; "))}
		}
		return nil
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return []string{fmt.Sprintf("%s: %v not in %v", where, v, enum)}
	}
	var problems []string
	switch schema["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an object", where, v)}
		}
		props, _ := schema["properties"].(map[string]any)
		for k, e := range m {
			if ps, ok := props[k].(map[string]any); ok {
				problems = append(problems, validate(doc, ps, e, where+"."+k)...)
				continue
			}
			switch ap := schema["additionalProperties"].(type) {
			case bool:
				if !ap {
					problems = append(problems, fmt.Sprintf("%s: unknown key %q", where, k))
				}
			case map[string]any:
				problems = append(problems, validate(doc, ap, e, where+"."+k)...)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v is not an array", where, v)}
		}
		for i, e := range a {
			problems = append(problems, validate(doc, schema["items"].(map[string]any), e, fmt.Sprintf("%s[%d]", where, i))...)
		}
	case "string":
		if _, ok := v.(string); !ok {
			problems = append(problems, fmt.Sprintf("%s: %v is not a string", where, v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			problems = append(problems, fmt.Sprintf("%s: %v is not a boolean", where, v))
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			problems = append(problems, fmt.Sprintf("%s: %v is not an integer", where, v))
		}
	case "number":
		if _, ok := v.(float64); !ok {
			problems = append(problems, fmt.Sprintf("%s: %v is not a number", where, v))
		}
	}
	return problems
}

// The schemas and the decoders agree: each body of testdata/openapi is accepted by the API and
// by its schema; each *.bad.json (one key the decoder does not know) is refused by both. And
// what the API answers for the definitions matches the response schemas.
func TestOpenAPIBodiesAgreeWithAPI(t *testing.T) {
	e := newEnv(t)
	doc := openAPI(t, e, "/api/openapi.json")
	files, err := filepath.Glob(filepath.Join("testdata", "openapi", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bodies: %v", err)
	}
	sort.Strings(files)
	checkAnswer := func(path string, r resp) {
		t.Helper()
		ptr := "#/paths/" + strings.ReplaceAll(path, "/", "~1") + "/get/responses/200/content/application~1json/schema"
		s, ok := get(doc, ptr)
		if !ok {
			t.Errorf("GET %s: no response schema", path)
			return
		}
		var v any
		if err := json.Unmarshal(r.body, &v); err != nil {
			t.Errorf("GET %s: %v", path, err)
			return
		}
		for _, p := range validate(doc, s.(map[string]any), v, "GET "+path) {
			t.Error(p)
		}
	}
	for _, f := range files {
		base := filepath.Base(f)
		collection := strings.TrimSuffix(strings.TrimSuffix(base[strings.Index(base, "-")+1:], ".json"), ".bad")
		bad := strings.HasSuffix(base, ".bad.json")
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		s, ok := get(doc, "#/paths/~1"+collection+"/post/requestBody/content/application~1json/schema")
		if !ok {
			t.Fatalf("%s: no schema for POST /%s", f, collection)
		}
		problems := validate(doc, s.(map[string]any), v, base)
		r := e.admin("POST", "/api/"+collection, body)
		switch {
		case !bad && (len(problems) > 0 || r.code != http.StatusCreated):
			t.Errorf("%s: API %d %s; schema: %v", base, r.code, r.body, problems)
		case bad && (len(problems) == 0 || r.code != http.StatusBadRequest):
			t.Errorf("%s: want both to refuse it: API %d %s; schema: %v", base, r.code, r.body, problems)
		}
		if !bad {
			checkAnswer("/"+collection, e.admin("GET", "/api/"+collection, nil))
		}
	}
	expect(t, "deploy", e.admin("POST", "/api/applications/oa-app/deploy/oa-ap", nil), http.StatusAccepted, "")
	for _, p := range []string{"/applications/{appId}", "/applications/{appId}/runtime", "/applications/{appId}/networkPartitions"} {
		checkAnswer(p, e.admin("GET", "/api"+strings.ReplaceAll(p, "{appId}", "oa-app"), nil))
	}
	checkAnswer("/session", e.admin("GET", "/api/session", nil))
	checkAnswer("/iaasProviders", e.admin("GET", "/api/iaasProviders", nil))
}
