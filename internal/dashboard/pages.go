package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/history"
	"github.com/azdurable/azdurable/provider/azurestorage"
)

// Limits of the listing. The Instances table is ordered by instance id,
// not by creation, so the newest instances are found by reading the rows
// that match the filter (without payloads) and sorting them.
const (
	// pageSize is the number of instances per page.
	pageSize = 25
	// scanLimit bounds the rows one listing reads; past it the page says
	// so and offers the next rows of the table.
	scanLimit = 2000
	// countLimit bounds the rows the status counts read.
	countLimit = 10000
	// payloadLimit bounds the text of an input, output or custom status
	// shown inline.
	payloadLimit = 64 << 10
)

// statuses are the runtime statuses in the order the pages show them.
var statuses = []client.Status{client.Running, client.Pending, client.Suspended, client.Completed,
	client.Failed, client.Terminated, client.Canceled, client.ContinuedAsNew}

// filter is the instance list's query, as the page's form sends it.
type filter struct {
	Statuses map[string]bool
	Name     string
	Prefix   string
	From, To string // as typed: 2006-01-02T15:04[:05] (UTC) or RFC 3339
	Page     int
	Scan     string // continuation token of the table rows to read
	query    client.Query
	Err      string
}

func parseFilter(r *http.Request) *filter {
	v := r.URL.Query()
	f := &filter{Statuses: map[string]bool{}, Name: strings.TrimSpace(v.Get("name")),
		Prefix: v.Get("prefix"), From: strings.TrimSpace(v.Get("from")), To: strings.TrimSpace(v.Get("to")),
		Scan: v.Get("scan")}
	f.query = client.Query{InstanceIDPrefix: f.Prefix, PageSize: 1000, ExcludeEntities: true}
	for _, s := range v["status"] {
		st, err := history.ParseStatus(s)
		if err != nil {
			f.Err = fmt.Sprintf("unknown status %q", s)
			continue
		}
		f.Statuses[st.String()] = true
		f.query.Statuses = append(f.query.Statuses, st)
	}
	var err error
	if f.query.CreatedFrom, err = parseTime(f.From); err != nil {
		f.Err = "created from: " + err.Error()
	}
	if f.query.CreatedTo, err = parseTime(f.To); err != nil {
		f.Err = "created to: " + err.Error()
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 0 {
		f.Page = p - 1
	}
	return f
}

// parseTime reads a time typed in the filter form (UTC unless it says).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2006-01-02T15:04", s)
}

// link returns the list's URL with the filter and a changed page or scan.
func (f *filter) link(page int, scan string) string {
	v := url.Values{}
	for _, s := range statuses {
		if f.Statuses[s.String()] {
			v.Add("status", s.String())
		}
	}
	for k, s := range map[string]string{"name": f.Name, "prefix": f.Prefix, "from": f.From, "to": f.To, "scan": scan} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if page > 0 {
		v.Set("page", strconv.Itoa(page+1))
	}
	if len(v) == 0 {
		return Prefix
	}
	return Prefix + "?" + v.Encode()
}

// listing is one page of the instance list.
type listing struct {
	Filter    *filter
	Rows      []*client.State
	Matched   int // rows read that match the filter
	Page      int // 1-based
	Pages     int
	Prev      string
	Next      string
	Truncated bool   // the scan stopped at scanLimit
	NextScan  string // link to the next rows of the table
	Statuses  []client.Status
}

func (h *Handler) list(ctx context.Context, f *filter) (*listing, error) {
	l := &listing{Filter: f, Statuses: statuses}
	if f.Err != "" {
		return l, nil
	}
	var rows []*client.State
	token := f.Scan
	for {
		p, err := h.c.QueryPage(ctx, f.query, token)
		if err != nil {
			return nil, err
		}
		for _, s := range p.States {
			if f.Name == "" || strings.Contains(strings.ToLower(s.Name), strings.ToLower(f.Name)) {
				rows = append(rows, s)
			}
		}
		token = p.ContinuationToken
		if token == "" {
			break
		}
		if len(rows) >= scanLimit {
			l.Truncated, l.NextScan = true, f.link(0, token)
			break
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if !rows[i].CreatedAt.Equal(rows[j].CreatedAt) {
			return rows[i].CreatedAt.After(rows[j].CreatedAt)
		}
		return rows[i].InstanceID < rows[j].InstanceID
	})
	l.Matched = len(rows)
	l.Pages = (len(rows) + pageSize - 1) / pageSize
	if l.Pages == 0 {
		l.Pages = 1
	}
	page := min(f.Page, l.Pages-1)
	l.Page = page + 1
	lo, hi := page*pageSize, min((page+1)*pageSize, len(rows))
	if lo < hi {
		l.Rows = rows[lo:hi]
	}
	if page > 0 {
		l.Prev = f.link(page-1, f.Scan)
	}
	if page+1 < l.Pages {
		l.Next = f.link(page+1, f.Scan)
	}
	return l, nil
}

// hubView is the hub section.
type hubView struct {
	Counts    []statusCount
	Total     int
	Capped    bool
	Activity  *azurestorage.HubActivity
	HubError  string
	Refresh   int
	MaxOldest time.Duration
}

type statusCount struct {
	Status string
	N      int
}

func (h *Handler) hub(ctx context.Context) *hubView {
	v := &hubView{Refresh: int(h.o.Refresh / time.Second)}
	counts := map[client.Status]int{}
	for s, err := range h.c.Query(ctx, client.Query{PageSize: 1000, ExcludeEntities: true}) {
		if err != nil {
			v.HubError = "counting instances: " + err.Error()
			break
		}
		counts[s.Status]++
		v.Total++
		if v.Total >= countLimit {
			v.Capped = true
			break
		}
	}
	for _, s := range statuses {
		v.Counts = append(v.Counts, statusCount{s.String(), counts[s]})
	}
	if h.o.Hub != nil {
		a, err := h.o.Hub(ctx)
		if err != nil {
			h.log.Error("dashboard: reading the hub", "err", err)
			v.HubError = "reading the hub: " + err.Error()
		}
		v.Activity = a
	}
	return v
}

type indexData struct {
	Hub  *hubView
	List *listing
	Err  string
}

func (h *Handler) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := parseFilter(r)
	d := &indexData{Hub: h.hub(ctx)}
	l, err := h.list(ctx, f)
	if err != nil {
		h.log.Error("dashboard: listing instances", "err", err)
		d.Err = "listing instances: " + err.Error()
		l = &listing{Filter: f, Statuses: statuses, Page: 1, Pages: 1}
	}
	d.List = l
	h.render(w, "index", h.page(r, "Task hub "+h.o.TaskHub, d))
}

// hubFragment serves the hub section alone, for the auto-refresh.
func (h *Handler) hubFragment(w http.ResponseWriter, r *http.Request) {
	h.render(w, "hubfragment", h.page(r, "", h.hub(r.Context())))
}

// instanceData is the instance page.
type instanceData struct {
	State    *client.State
	Input    string
	Output   string
	Custom   string
	Failure  []*history.FailureDetails
	Events   []eventRow
	Timeline *timeline
	Children []string
	Terminal bool
	Entity   bool // a durable entity's instance: no orchestration actions
	HistErr  string
}

type eventRow struct {
	Index     int
	Type      string
	EventID   int32
	Timestamp time.Time
	Name      string
	Detail    string
}

func (h *Handler) instance(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" {
		h.fail(w, r, http.StatusBadRequest, "no instance id")
		return
	}
	ctx := r.Context()
	st, err := h.c.GetState(ctx, id)
	if err != nil {
		h.backendError(w, r, "reading instance", err)
		return
	}
	d := &instanceData{State: st, Input: pretty(st.Input), Output: pretty(st.Output), Custom: pretty(st.CustomStatus),
		Terminal: st.Status.IsTerminal(), Entity: isEntity(id)}
	for f := st.Failure; f != nil && len(d.Failure) < 10; f = f.InnerFailure {
		d.Failure = append(d.Failure, f)
	}
	events, err := h.c.History(ctx, id, "")
	if err != nil {
		d.HistErr = err.Error()
	}
	seen := map[string]bool{}
	for i, ev := range events {
		row := eventRow{Index: i, Type: ev.Type().String(), EventID: ev.Base().EventID, Timestamp: ev.Base().Timestamp}
		row.Name, row.Detail = describe(ev)
		d.Events = append(d.Events, row)
		switch x := ev.(type) {
		case *history.SubOrchestrationInstanceCreatedEvent:
			if x.InstanceID != "" && !seen[x.InstanceID] {
				seen[x.InstanceID] = true
				d.Children = append(d.Children, x.InstanceID)
			}
		case *history.ExecutionStartedEvent:
			// The status row may not name the parent; the start event does.
			if st.ParentInstanceID == "" && x.ParentInstance != nil {
				st.ParentInstanceID = x.ParentInstance.OrchestrationInstance.InstanceID
			}
		}
	}
	// The axis spans this execution's events (the status row's created
	// time may be an earlier generation's).
	var first, last time.Time
	for _, ev := range events {
		if ts := ev.Base().Timestamp; !ts.IsZero() {
			if ts.Before(first) || first.IsZero() {
				first = ts
			}
			if ts.After(last) {
				last = ts
			}
		}
	}
	if first.IsZero() {
		first, last = st.CreatedAt, st.LastUpdatedAt
	}
	d.Timeline = layout(Bars(events), first, last, h.o.Now().UTC())
	h.render(w, "instance", h.page(r, "Instance "+id, d))
}

// describe returns an event's name and a short detail for the table.
func describe(ev history.Event) (name, detail string) {
	switch e := ev.(type) {
	case *history.ExecutionStartedEvent:
		return e.Name, short(e.Input)
	case *history.ExecutionCompletedEvent:
		return e.OrchestrationStatus.String(), short(e.Result)
	case *history.ExecutionTerminatedEvent:
		return "", short(e.Input)
	case *history.TaskScheduledEvent:
		return e.Name, short(e.Input)
	case *history.TaskCompletedEvent:
		return fmt.Sprintf("task #%d", e.TaskScheduledID), short(e.Result)
	case *history.TaskFailedEvent:
		msg := short(e.Reason)
		if e.FailureDetails != nil {
			msg = e.FailureDetails.ErrorMessage
		}
		return fmt.Sprintf("task #%d", e.TaskScheduledID), msg
	case *history.SubOrchestrationInstanceCreatedEvent:
		return e.Name, e.InstanceID
	case *history.SubOrchestrationInstanceCompletedEvent:
		return fmt.Sprintf("task #%d", e.TaskScheduledID), short(e.Result)
	case *history.SubOrchestrationInstanceFailedEvent:
		msg := short(e.Reason)
		if e.FailureDetails != nil {
			msg = e.FailureDetails.ErrorMessage
		}
		return fmt.Sprintf("task #%d", e.TaskScheduledID), msg
	case *history.TimerCreatedEvent:
		return "", "fires " + e.FireAt.UTC().Format(time.RFC3339)
	case *history.TimerFiredEvent:
		return fmt.Sprintf("timer #%d", e.TimerID), ""
	case *history.EventRaisedEvent:
		return e.Name, short(e.Input)
	case *history.EventSentEvent:
		return e.Name, e.InstanceID
	}
	return "", ""
}

func short(p *string) string {
	if p == nil {
		return ""
	}
	s := *p
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

// pretty indents a stored JSON payload for reading; text that is not JSON
// (a failure message, a termination reason) is shown as it is.
func pretty(p *string) string {
	if p == nil {
		return ""
	}
	s := *p
	if len(s) > payloadLimit {
		return s[:payloadLimit] + fmt.Sprintf("\n… (%d bytes in all)", len(s))
	}
	// Indented as stored: strings keep their own escapes.
	var b bytes.Buffer
	if json.Indent(&b, []byte(s), "", "  ") == nil {
		return b.String()
	}
	return s
}

// entityRow is one durable entity.
type entityRow struct {
	ID, Name, Key string
	State         string
	Status        string
	LastUpdated   time.Time
}

type entitiesData struct {
	Rows      []entityRow
	Truncated bool
	CanSignal bool
	Err       string
}

func (h *Handler) entities(w http.ResponseWriter, r *http.Request) {
	d := &entitiesData{CanSignal: h.o.SignalEntity != nil && !h.o.ReadOnly}
	n := 0
	for s, err := range h.c.Query(r.Context(), client.Query{InstanceIDPrefix: "@", PageSize: 500, FetchPayloads: true}) {
		if err != nil {
			d.Err = err.Error()
			break
		}
		if n++; n > scanLimit {
			d.Truncated = true
			break
		}
		name, key, ok := splitEntityID(s.InstanceID)
		if !ok {
			continue
		}
		d.Rows = append(d.Rows, entityRow{ID: s.InstanceID, Name: name, Key: key, State: entityState(s.Input),
			Status: s.Status.String(), LastUpdated: s.LastUpdatedAt})
	}
	h.render(w, "entities", h.page(r, "Entities", d))
}

// entityRefusal explains why the orchestration actions are refused on an
// entity's instance: a terminated entity drops every later signal, a
// restarted one runs as an orchestration, and the others do nothing an
// entity understands.
const entityRefusal = "this instance is a durable entity: send it operations from the entities page (terminate, suspend, resume, rewind, restart and raise are for orchestrations)"

// isEntity reports whether an instance id is a durable entity's.
func isEntity(id string) bool {
	_, _, ok := splitEntityID(id)
	return ok
}

// splitEntityID splits an entity's instance id, @name@key.
func splitEntityID(id string) (name, key string, ok bool) {
	rest, ok := strings.CutPrefix(id, "@")
	if !ok {
		return "", "", false
	}
	return strings.Cut(rest, "@")
}

// entityState reads the state out of an entity instance's stored input,
// the Durable Functions scheduler state {"exists":…,"state":"<json>",…};
// anything else is shown as stored.
func entityState(input *string) string {
	if input == nil {
		return ""
	}
	var st struct {
		Exists *bool   `json:"exists"`
		State  *string `json:"state"`
	}
	if json.Unmarshal([]byte(*input), &st) == nil && st.Exists != nil {
		if !*st.Exists || st.State == nil {
			return "(no state)"
		}
		return pretty(st.State)
	}
	return pretty(input)
}

// action performs one instance action; destructive ones ask first.
func (h *Handler) action(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	id, op, reason := f.Get("id"), f.Get("op"), f.Get("reason")
	if id == "" {
		h.fail(w, r, http.StatusBadRequest, "no instance id")
		return
	}
	if isEntity(id) && op != "purge" {
		h.fail(w, r, http.StatusBadRequest, entityRefusal)
		return
	}
	if destructive[op] && f.Get("confirm") != "yes" {
		h.confirm(w, r, op, []string{id}, f)
		return
	}
	ctx := r.Context()
	next := Prefix + "instance?" + url.Values{"id": {id}, "done": {op}}.Encode()
	var err error
	switch op {
	case "raise":
		name := strings.TrimSpace(f.Get("event"))
		if name == "" {
			h.fail(w, r, http.StatusBadRequest, "an event needs a name")
			return
		}
		data := strings.TrimSpace(f.Get("data"))
		if data == "" {
			data = "null"
		}
		if !json.Valid([]byte(data)) {
			h.fail(w, r, http.StatusBadRequest, "the event data must be JSON")
			return
		}
		err = h.c.RaiseEvent(ctx, id, name, client.RawJSON(data))
	case "terminate":
		err = h.c.Terminate(ctx, id, reason)
	case "suspend":
		err = h.c.Suspend(ctx, id, reason)
	case "resume":
		err = h.c.Resume(ctx, id, reason)
	case "rewind":
		// client.Rewind runs one rewind of an instance at a time: a
		// double click answers as a rewind of an instance no longer Failed.
		err = h.c.Rewind(ctx, id, reason)
	case "restart":
		var opts []client.RestartOption
		if f.Get("newid") == "yes" {
			opts = append(opts, client.WithNewInstanceID(""))
		}
		var nid string
		nid, err = h.c.Restart(ctx, id, opts...)
		next = Prefix + "instance?" + url.Values{"id": {nid}, "done": {op}}.Encode()
	case "purge":
		_, err = h.c.Purge(ctx, id)
		next = Prefix + "?" + url.Values{"done": {"purge " + id}}.Encode()
	default:
		h.fail(w, r, http.StatusBadRequest, "unknown action")
		return
	}
	if err != nil {
		h.actionError(w, r, op, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// destructive actions need a confirmation.
var destructive = map[string]bool{"terminate": true, "purge": true, "rewind": true, "restart": true}

func (h *Handler) actionError(w http.ResponseWriter, r *http.Request, op string, err error) {
	var se *client.StatusError
	switch {
	case errors.Is(err, client.ErrNotFound):
		h.fail(w, r, http.StatusNotFound, op+": no such instance")
	case errors.Is(err, client.ErrInvalid):
		h.fail(w, r, http.StatusBadRequest, op+": "+err.Error())
	case errors.As(err, &se):
		h.fail(w, r, http.StatusConflict, op+": "+err.Error())
	default:
		h.log.Error("dashboard: "+op, "err", err)
		h.fail(w, r, http.StatusBadGateway, op+": "+err.Error())
	}
}

type confirmData struct {
	Op     string
	IDs    []string
	Fields [][2]string
	Back   string
}

// confirm shows the confirmation page of a destructive action: the same
// form again, with confirm=yes.
func (h *Handler) confirm(w http.ResponseWriter, r *http.Request, op string, ids []string, f url.Values) {
	d := &confirmData{Op: op, IDs: ids, Back: Prefix}
	if len(ids) == 1 && r.URL.Path == Prefix+"action" {
		d.Back = Prefix + "instance?" + url.Values{"id": {ids[0]}}.Encode()
	}
	for _, k := range []string{"reason", "newid"} {
		if v := f.Get(k); v != "" {
			d.Fields = append(d.Fields, [2]string{k, v})
		}
	}
	path := "action"
	if r.URL.Path == Prefix+"bulk" {
		path = "bulk"
	}
	d.Fields = append(d.Fields, [2]string{"op", op})
	p := h.page(r, "Confirm "+op, d)
	p.Data = struct {
		*confirmData
		Path string
	}{d, path}
	h.render(w, "confirm", p)
}

// maxBulk bounds the instances of one bulk action.
const maxBulk = 500

// bulk terminates or purges the selected instances.
func (h *Handler) bulk(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	op, ids := f.Get("op"), f["id"]
	if op != "terminate" && op != "purge" {
		h.fail(w, r, http.StatusBadRequest, "unknown bulk action")
		return
	}
	if len(ids) == 0 {
		h.fail(w, r, http.StatusBadRequest, "no instance selected")
		return
	}
	if len(ids) > maxBulk {
		h.fail(w, r, http.StatusBadRequest, fmt.Sprintf("at most %d instances at once", maxBulk))
		return
	}
	if f.Get("confirm") != "yes" {
		h.confirm(w, r, op, ids, f)
		return
	}
	ok, failed := 0, 0
	for _, id := range ids {
		var err error
		if op == "terminate" && isEntity(id) {
			err = errors.New(entityRefusal)
		} else if op == "terminate" {
			err = h.c.Terminate(r.Context(), id, f.Get("reason"))
		} else {
			_, err = h.c.Purge(r.Context(), id)
		}
		if err != nil {
			h.log.Warn("dashboard: bulk "+op, "instance", id, "err", err)
			failed++
			continue
		}
		ok++
	}
	msg := fmt.Sprintf("%s: %d done", op, ok)
	if failed > 0 {
		msg += fmt.Sprintf(", %d refused (see the log)", failed)
	}
	http.Redirect(w, r, Prefix+"?"+url.Values{"done": {msg}}.Encode(), http.StatusSeeOther)
}

// signal sends an operation to an entity.
func (h *Handler) signal(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	name, key, op := f.Get("name"), f.Get("key"), strings.TrimSpace(f.Get("operation"))
	if name == "" || op == "" {
		h.fail(w, r, http.StatusBadRequest, "a signal needs an entity and an operation")
		return
	}
	var input *string
	if data := strings.TrimSpace(f.Get("data")); data != "" {
		if !json.Valid([]byte(data)) {
			h.fail(w, r, http.StatusBadRequest, "the operation input must be JSON")
			return
		}
		input = &data
	}
	if err := h.o.SignalEntity(r.Context(), name, key, op, input); err != nil {
		h.actionError(w, r, "signal", err)
		return
	}
	http.Redirect(w, r, Prefix+"entities?"+url.Values{"done": {"signal " + op}}.Encode(), http.StatusSeeOther)
}
