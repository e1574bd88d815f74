package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/azdurable/azdurable/client"
	"github.com/azdurable/azdurable/internal/azuritetest"
)

// schedulesCLI runs "azdurable schedules <args> <storage flags>".
func (e *hubEnv) schedulesCLI(args ...string) (int, string, string) {
	e.t.Helper()
	return run(e.t, "", append(append([]string{"schedules"}, args...), e.args...)...)
}

func (e *hubEnv) waitSchedule(name string, cond func(*client.ScheduleInfo) bool) *client.ScheduleInfo {
	e.t.Helper()
	var info *client.ScheduleInfo
	azuritetest.WaitFor(e.t, 3*time.Minute, "schedule "+name, func() (bool, error) {
		var err error
		info, err = e.c.GetSchedule(e.ctx, name)
		return err == nil && cond(info), nil
	})
	return info
}

func TestSchedulesUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "s"}, "--cron and --orchestration are required"},
		{[]string{"create", "s", "--cron", "* * * * *"}, "--cron and --orchestration are required"},
		{[]string{"create", "s", "--cron", "61 * * * *", "--orchestration", "A"}, "above maximum"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--time-zone", "Mars/Base"}, "unknown time zone"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--catch-up", "some"}, "catch-up policy"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--grace", "0s"}, "--grace must be positive"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--end", "tomorrow"}, "--end"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--input", "{"}, "--input must be JSON"},
		{[]string{"create", "a/b", "--cron", "* * * * *", "--orchestration", "A"}, "may hold only"},
		{[]string{"create", "s", "--cron", "* * * * *", "--orchestration", "A", "--end", "2020-01-01T00:00:00Z"}, "no tick between now and the end"},
		{[]string{"pause", "a b"}, "may hold only"},
		{[]string{"delete"}, "accepts 1 arg(s)"},
		{[]string{"list", "x"}, "accepts 0 arg(s)"},
	} {
		// No storage flags: every one of these is refused before storage
		// would be needed.
		code, out, errOut := run(t, "", append([]string{"schedules"}, tc.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, %q %q (want %q)", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestSchedulesCommands(t *testing.T) {
	e := newHubEnv(t, true)
	out := func(args ...string) string {
		t.Helper()
		code, stdout, stderr := e.schedulesCLI(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, stdout, stderr)
		}
		return stdout
	}
	fails := func(code int, want string, args ...string) {
		t.Helper()
		got, stdout, stderr := e.schedulesCLI(args...)
		if got != code || stdout != "" || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: exit %d (want %d), %q %q (want %q)", args, got, code, stdout, stderr, want)
		}
	}
	created := out("create", "greetings", "--cron", "*/2 * * * * *", "--time-zone", "Europe/Berlin",
		"--orchestration", "HelloCities", "--input", ` "cities" `, "--catch-up", "all")
	if !strings.HasPrefix(created, `created schedule greetings (instance schedule:greetings): HelloCities on "*/2 * * * * *" in Europe/Berlin, first tick `) {
		t.Fatalf("create printed %q", created)
	}
	fails(1, `schedule "greetings" already exists`, "create", "greetings", "--cron", "@hourly", "--orchestration", "HelloCities")

	info := e.waitSchedule("greetings", func(i *client.ScheduleInfo) bool { return i.Started >= 2 })
	first := e.wait(info.LastInstanceID, client.Completed)
	if first.Input == nil || *first.Input != `"cities"` || !strings.HasPrefix(first.InstanceID, "greetings@") {
		t.Errorf("a tick's instance: %+v", first)
	}
	rows := tableRows(out("list"))
	if len(rows) != 1 || rows[0][0] != "greetings" || rows[0][1] != "Active" || rows[0][2] != "*/2" || rows[0][8] != "Europe/Berlin" ||
		rows[0][9] != "HelloCities" {
		t.Errorf("list: %q", rows)
	}

	if got := out("pause", "greetings"); got != "pause sent to schedule greetings\n" {
		t.Errorf("pause printed %q", got)
	}
	e.waitSchedule("greetings", func(i *client.ScheduleInfo) bool { return i.Status == client.SchedulePaused })
	if got := out("resume", "greetings"); got != "resume sent to schedule greetings\n" {
		t.Errorf("resume printed %q", got)
	}
	e.waitSchedule("greetings", func(i *client.ScheduleInfo) bool { return i.Status == client.ScheduleActive })

	var listed []map[string]any
	if err := json.Unmarshal([]byte(out("list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0]["instanceId"] != "schedule:greetings" || listed[0]["grace"] != "1m0s" ||
		listed[0]["catchUp"] != "all" || listed[0]["input"] != "cities" {
		t.Errorf("list --json: %v", listed)
	}

	if got := out("delete", "greetings"); got != "delete sent to schedule greetings\n" {
		t.Errorf("delete printed %q", got)
	}
	e.waitSchedule("greetings", func(i *client.ScheduleInfo) bool { return i.Status == client.ScheduleDeleted })
	if rows := tableRows(out("list")); len(rows) != 0 {
		t.Errorf("list after delete: %q", rows)
	}
	if rows := tableRows(out("list", "--all")); len(rows) != 1 || rows[0][1] != "Deleted" {
		t.Errorf("list --all after delete: %q", rows)
	}
	fails(1, `schedule "greetings" is Deleted`, "pause", "greetings")
	fails(1, `schedule "nothing" does not exist`, "resume", "nothing")
}
