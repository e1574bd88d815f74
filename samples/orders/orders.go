// Package orders is the order-processing sample: check the inventory,
// charge the customer and create the shipment, retrying the flaky steps,
// and refund the charge (a compensation) when shipping fails for good.
package orders

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/azdurable/azdurable/durable"
)

// Order is the sample's input. The Flaky and Fail fields let demos and
// tests steer the outcome.
type Order struct {
	ID       string `json:"id"`
	Item     string `json:"item"`
	Quantity int    `json:"quantity"`
	Amount   int    `json:"amount"`
	// ChargeFailures makes the first N charge attempts fail.
	ChargeFailures int `json:"chargeFailures,omitempty"`
	// ShippingFails makes every shipment attempt fail.
	ShippingFails bool `json:"shippingFails,omitempty"`
}

// Result is the sample's output.
type Result struct {
	OrderID  string `json:"orderId"`
	Status   string `json:"status"`
	Charge   string `json:"charge,omitempty"`
	Shipment string `json:"shipment,omitempty"`
	Refund   string `json:"refund,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

var stock = map[string]int{"widget": 100, "gadget": 3}

var attempts sync.Map // instance + order id + step → attempts so far (per process)

func attempt(order, step string) int {
	v, _ := attempts.LoadOrStore(order+"/"+step, new(int))
	p := v.(*int)
	mu.Lock()
	defer mu.Unlock()
	*p++
	return *p
}

var mu sync.Mutex

// CheckInventory fails for good when there is not enough stock.
var CheckInventory = durable.NewActivity("CheckInventory", func(_ context.Context, o Order) (bool, error) {
	if stock[o.Item] < o.Quantity {
		return false, durable.NonRetryable(fmt.Errorf("only %d %s in stock, %d ordered", stock[o.Item], o.Item, o.Quantity))
	}
	return true, nil
})

// ChargeCustomer charges the order's amount.
var ChargeCustomer = durable.NewActivity("ChargeCustomer", func(ctx context.Context, o Order) (string, error) {
	info, _ := durable.ActivityInfoFrom(ctx)
	if n := attempt(info.InstanceID+"/"+o.ID, "charge"); n <= o.ChargeFailures {
		return "", fmt.Errorf("payment service unavailable (attempt %d)", n)
	}
	return "charge-" + o.ID, nil
})

// CreateShipment ships the order.
var CreateShipment = durable.NewActivity("CreateShipment", func(_ context.Context, o Order) (string, error) {
	if o.ShippingFails {
		return "", errors.New("no carrier accepts the shipment")
	}
	return "shipment-" + o.ID, nil
})

// RefundCustomer undoes a charge.
var RefundCustomer = durable.NewActivity("RefundCustomer", func(_ context.Context, charge string) (string, error) {
	return "refund-of-" + charge, nil
})

// Retry is the policy of the charge and shipment steps.
var Retry = durable.RetryPolicy{MaxAttempts: 3, FirstRetryInterval: time.Second, BackoffCoefficient: 2, MaxRetryInterval: 10 * time.Second}

// ProcessOrder runs the steps and compensates a failed shipment.
var ProcessOrder = durable.NewOrchestration("ProcessOrder", func(ctx durable.Context, o Order) (Result, error) {
	res := Result{OrderID: o.ID}
	if _, err := CheckInventory.Call(ctx, o).Await(ctx); err != nil {
		res.Status, res.Reason = "rejected", err.Error()
		return res, nil
	}
	charge, err := ChargeCustomer.Call(ctx, o, durable.WithRetry(Retry)).Await(ctx)
	if err != nil {
		res.Status, res.Reason = "payment-failed", err.Error()
		return res, nil
	}
	res.Charge = charge
	ship, err := CreateShipment.Call(ctx, o, durable.WithRetry(Retry)).Await(ctx)
	if err != nil {
		refund, rerr := RefundCustomer.Call(ctx, charge, durable.WithRetry(Retry)).Await(ctx)
		if rerr != nil {
			return res, fmt.Errorf("shipping failed (%v) and the refund failed too: %w", err, rerr)
		}
		res.Status, res.Refund, res.Reason = "refunded", refund, err.Error()
		return res, nil
	}
	res.Status, res.Shipment = "shipped", ship
	return res, nil
})

// Registrations returns the sample's orchestration and activities.
func Registrations() []durable.Registrable {
	return []durable.Registrable{ProcessOrder, CheckInventory, ChargeCustomer, CreateShipment, RefundCustomer}
}
