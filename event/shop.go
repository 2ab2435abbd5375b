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

// The shop's event types. Each is declared by the service that owns it (see
// package catalogue) and named by the services that consume it.
var (
	UserCreatedDef    = Define[UserCreatedData](UserCreated, "A user signed up.")
	ProductCreatedDef = Define[ProductData](ProductCreated, "A product was added to the catalogue; data is the whole product.")
	ProductUpdatedDef = Define[ProductData](ProductUpdated, "A product's title or image changed; data is the whole product after the change.")
	OrderCreatedDef   = Define[OrderData](OrderCreated, "A user ordered a product.")
	OrderCancelledDef = Define[OrderData](OrderCancelled, "An order was cancelled; data repeats the order's user and product.")
)

// UserCreatedData is the payload of shop.user.created.v1.
type UserCreatedData struct {
	ID    int64  `json:"id" minimum:"1" doc:"User id"`
	Name  string `json:"name" minLength:"1" doc:"Display name"`
	Email string `json:"email" minLength:"1" doc:"Email address"`
}

func (d UserCreatedData) Validate() error {
	return errors.Join(positive("id", d.ID), nonEmpty("name", d.Name), nonEmpty("email", d.Email))
}

// ProductData is the payload of shop.product.created.v1 and
// shop.product.updated.v1: the product's whole state after the change.
type ProductData struct {
	ID    int64  `json:"id" minimum:"1" doc:"Product id"`
	Title string `json:"title" minLength:"1"`
	Image string `json:"image" minLength:"1" doc:"Image URL or file name, as given"`
}

func (d ProductData) Validate() error {
	return errors.Join(positive("id", d.ID), nonEmpty("title", d.Title), nonEmpty("image", d.Image))
}

// OrderData is the payload of shop.order.created.v1 and
// shop.order.cancelled.v1. A cancellation repeats the order's user and product
// so a projection can apply it even before it has seen the order.
type OrderData struct {
	ID        int64 `json:"id" minimum:"1" doc:"Order id"`
	UserID    int64 `json:"userId" minimum:"1"`
	ProductID int64 `json:"productId" minimum:"1"`
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
