package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// Against the running process: every write endpoint the OpenAPI document lists refuses a request
// without credentials and one with a wrong password (401 with WWW-Authenticate), and the agent
// accounts the platform issues for the broker and Thrift get nothing from the REST API.
func TestUpWriteEndpointsNeedCredentials(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	// A wrong password on every write endpoint from one source: this test is about the answer to
	// a refused credential, not the login throttle, which would turn most of them into 429s.
	args = append(args, "--login-source-burst", "1000000", "--login-user-burst", "1000000")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	api := "http://" + a.api
	p.waitHTTP(t, api+"/healthz")

	code, body, _ := call(t, http.MethodGet, api+"/api/openapi.json", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d %s", code, body)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	writes := 0
	for path, ops := range doc.Paths {
		for method := range ops {
			m := strings.ToUpper(method)
			if m != http.MethodPost && m != http.MethodPut && m != http.MethodDelete && m != http.MethodPatch {
				continue
			}
			writes++
			url := api + "/api" + strings.TrimPrefix(param.ReplaceAllString(path, "x"), "/api")
			for _, auth := range []struct {
				name, user, password string
			}{{"no credentials", "", ""}, {"a wrong password", "admin", "wrong-password"}} {
				req, err := http.NewRequest(m, url, strings.NewReader(`{}`))
				if err != nil {
					t.Fatal(err)
				}
				if auth.user != "" {
					req.SetBasicAuth(auth.user, auth.password)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s with %s = %d (WWW-Authenticate %q), want 401 with the header",
						m, url, auth.name, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
				}
			}
		}
	}
	if writes < 20 {
		t.Errorf("the OpenAPI document lists %d write operations; want the whole Stratos API", writes)
	}
}
