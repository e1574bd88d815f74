package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/httpapi"
	"github.com/azdurable/azdurable/provider/memory"
	"github.com/azdurable/azdurable/samples/hellocities"
	"github.com/azdurable/azdurable/worker"
)

// Serve the management API next to an application route that starts an
// orchestration and answers with the check-status response, then poll the
// status URL from that response. (The in-memory backend keeps the example
// self-contained; use provider/azurestorage for a real task hub.)
func Example() {
	be := memory.New(memory.Options{TaskHub: "MyHub"})
	w := worker.New(be, worker.Options{})
	if err := w.Register(hellocities.Registrations()...); err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error)
	go func() { stopped <- w.Run(ctx) }()
	defer func() { stop(); <-stopped }()

	c := client.New(be, client.Options{})
	api, err := httpapi.New(httpapi.Options{Client: c, TaskHub: "MyHub",
		Orchestrators: httpapi.FromRegistrations(hellocities.Registrations()...)})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle(httpapi.DefaultBasePath+"/", api)
	mux.HandleFunc("POST /api/hello", func(w http.ResponseWriter, r *http.Request) {
		id, err := c.ScheduleNew(r.Context(), "HelloCities", "cities")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		api.WriteCheckStatusResponse(w, r, id, nil)
	})
	srv := httptest.NewServer(mux) // loopback: the default authorization admits it
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/api/hello", "application/json", nil)
	if err != nil {
		panic(err)
	}
	var links struct {
		ID                string `json:"id"`
		StatusQueryGetURI string `json:"statusQueryGetUri"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&links); err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println("start:", resp.StatusCode, resp.Header.Get("Retry-After"),
		strings.HasPrefix(links.StatusQueryGetURI, srv.URL+"/runtime/webhooks/durabletask/instances/"+links.ID+"?taskHub=MyHub"))

	// A poller follows statusQueryGetUri: 202 while running, 200 when done.
	if _, err := c.WaitForCompletion(ctx, links.ID); err != nil {
		panic(err)
	}
	resp, err = http.Get(links.StatusQueryGetURI)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var status struct {
		RuntimeStatus string          `json:"runtimeStatus"`
		Output        json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(body, &status); err != nil {
		panic(err)
	}
	fmt.Println("status:", resp.StatusCode, status.RuntimeStatus, string(status.Output))
	// Output:
	// start: 202 10 true
	// status: 200 Completed ["Hello Tokyo!","Hello Seattle!","Hello London!"]
}

// Put the API (and any other page of the same server) behind Guard, as
// azdurable serve does: a request naming another host, or a cross-site
// form post, is refused before it reaches a handler.
func ExampleGuard() {
	c := client.New(memory.New(memory.Options{TaskHub: "MyHub"}), client.Options{})
	api, err := httpapi.New(httpapi.Options{Client: c, TaskHub: "MyHub"})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	guarded, err := httpapi.Guard(api, httpapi.GuardOptions{Listen: srv.Listener.Addr().String()})
	if err != nil {
		panic(err)
	}
	srv.Config.Handler = guarded
	srv.Start()
	defer srv.Close()

	send := func(method, host, origin string) int {
		req, _ := http.NewRequest(method, srv.URL+httpapi.DefaultBasePath+"/orchestrators/HelloCities", nil)
		req.Host = host
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	fmt.Println("a script:", send("POST", srv.Listener.Addr().String(), ""))
	fmt.Println("a page of another site:", send("POST", srv.Listener.Addr().String(), "https://evil.example"))
	fmt.Println("a rebound DNS name:", send("GET", "evil.example", ""))
	// Output:
	// a script: 202
	// a page of another site: 403
	// a rebound DNS name: 403
}
