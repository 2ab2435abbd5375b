package event

import (
	"errors"
	"strings"
)

// Shop event types. The suffix is the payload's schema version: a change that
// breaks readers gets a new type, never an edit of an existing one.
const (
	UserCreated    = "shop.user.created.v1"
	ProductCreated = "shop.product.created.v1"
	ProductUpdated = "shop.product.updated.v1"
	OrderCreated   = "shop.order.created.v1"
	OrderCancelled = "shop.order.cancelled.v1"
	ShopStream     = "SHOP"
	ShopSubjects   = "shop.>" // every subject of the SHOP stream
)

// Subject returns the NATS subject an event type travels on: for a shop
// type, the type without its version suffix ("shop.order.created.v1" →
// "shop.order.created"); for a blog type, BlogSubject's.
func Subject(typ string) string {
	switch typ {
	case PostCreated, CommentCreated, CommentModerated, CommentUpdated:
		return BlogSubject(typ)
	}
	if i := strings.LastIndex(typ, "."); i > 0 && strings.HasPrefix(typ[i+1:], "v") {
		return typ[:i]
	}
	return typ
}

// Shop is the registry of every shop event type.
func Shop() *Registry {
	r := &Registry{}
	Register[UserCreatedData](r, UserCreated)
	Register[ProductData](r, ProductCreated)
	Register[ProductData](r, ProductUpdated)
	Register[OrderData](r, OrderCreated)
	Register[OrderData](r, OrderCancelled)
	return r
}

// UserCreatedData is the payload of shop.user.created.v1.
type UserCreatedData struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (d UserCreatedData) Validate() error {
	return errors.Join(positive("id", d.ID), nonEmpty("name", d.Name), nonEmpty("email", d.Email))
}

// ProductData is the payload of shop.product.created.v1 and
// shop.product.updated.v1: the product's whole state after the change.
type ProductData struct {
	ID    int64  `json:"id"`
	Title string `json:"title"`
	Image string `json:"image"`
}

func (d ProductData) Validate() error {
	return errors.Join(positive("id", d.ID), nonEmpty("title", d.Title), nonEmpty("image", d.Image))
}

// OrderData is the payload of shop.order.created.v1 and
// shop.order.cancelled.v1. A cancellation repeats the order's user and product
// so a projection can apply it even before it has seen the order.
type OrderData struct {
	ID        int64 `json:"id"`
	UserID    int64 `json:"userId"`
	ProductID int64 `json:"productId"`
}

func (d OrderData) Validate() error {
	return errors.Join(positive("id", d.ID), positive("userId", d.UserID), positive("productId", d.ProductID))
}

func positive(name string, v int64) error {
	if v <= 0 {
		return errors.New(name + " must be a positive integer")
	}
	return nil
}

func nonEmpty(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return errors.New(name + " must not be empty")
	}
	return nil
}
