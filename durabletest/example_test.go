package durabletest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/azdurable/azdurable/durable"
	"github.com/azdurable/azdurable/durabletest"
)

// A *testing.T is what New and Replay take.
var _ durabletest.TB = (*testing.T)(nil)

var (
	charge = durable.NewActivity("Charge", func(_ context.Context, amount int) (string, error) {
		return "", errors.New("the real payment service is not called in unit tests")
	})
	pay = durable.NewOrchestration("Pay", func(ctx durable.Context, amount int) (string, error) {
		receipt, err := charge.Call(ctx, amount).Await(ctx)
		if err != nil {
			return "declined", nil
		}
		return receipt, nil
	})
)

// testPay is a unit test of the Pay orchestration with its Charge activity
// mocked: once accepting, once failing.
func testPay(t durabletest.TB) {
	env := durabletest.New(t, durabletest.Options{})
	env.Register(pay, charge)
	mock := durabletest.OnActivity(env, charge).Return("receipt-42", nil)

	out, err := durabletest.Start(env, pay, 30).Result()
	fmt.Println(out, err)

	mock.Do(func(_ context.Context, amount int) (string, error) {
		return "", fmt.Errorf("card declined for %d", amount)
	})
	out, err = durabletest.Start(env, pay, 30).Result()
	fmt.Println(out, err, mock.Calls())
}

// A unit test with a mocked activity. In a test file it is
//
//	func TestPay(t *testing.T) { testPay(t) }
//
// Here it runs with a stand-in for the test's *testing.T.
func ExampleOnActivity() {
	t := &exampleT{}
	testPay(t)
	t.done()
	// Output:
	// receipt-42 <nil>
	// declined <nil> 2
}

// exampleT is the part of a *testing.T that durabletest uses, for running
// a test in an example.
type exampleT struct{ cleanups []func() }

func (t *exampleT) Helper()                           {}
func (t *exampleT) Cleanup(f func())                  { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Log(args ...any)                   {}
func (t *exampleT) Errorf(format string, args ...any) { fmt.Printf("error: "+format+"\n", args...) }
func (t *exampleT) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (t *exampleT) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// done runs the cleanups, last first, as a test's end does.
func (t *exampleT) done() {
	for i := len(t.cleanups) - 1; i >= 0; i-- {
		t.cleanups[i]()
	}
}
