package event

import (
	"errors"
	"fmt"
	"strings"
)

// Shop event types. The suffix is the payload's schema version: a change that
// breaks readers gets a new type, never an edit of an existing one.
const (
	UserCreated = "shop.user.created.v1"
	// ProductCreated and ProductUpdated are the first version of the
	// product events, without a price. Products no longer emits them;
	// those already stored are read as ProductCreatedV2 and
	// ProductUpdatedV2 (see ProductCreatedDef).
	ProductCreated   = "shop.product.created.v1"
	ProductUpdated   = "shop.product.updated.v1"
	ProductCreatedV2 = "shop.product.created.v2"
	ProductUpdatedV2 = "shop.product.updated.v2"
	OrderCreated     = "shop.order.created.v1"
	OrderCancelled   = "shop.order.cancelled.v1"
	ShopStream       = "SHOP"
	ShopSubjects     = "shop.>" // every subject of the SHOP stream
)

// DefaultCurrency is the currency of a product given none, and of every
// product a v1 event recorded.
const DefaultCurrency = "EUR"

// The shop's event types. Each is declared by the service that owns it (see
// package catalogue) and named by the services that consume it.
var (
	UserCreatedDef      = Define[UserCreatedData](UserCreated, "A user signed up.")
	ProductCreatedV2Def = Define[ProductDataV2](ProductCreatedV2, "A product was added to the catalogue; data is the whole product, with its price.")
	ProductUpdatedV2Def = Define[ProductDataV2](ProductUpdatedV2, "A product's title, image, price or currency changed; data is the whole product after the change.")
	// ProductCreatedDef and ProductUpdatedDef are v1, superseded: a
	// consumer names them beside the v2 Defs to receive what is stored,
	// and sees every v1 event as v2 (UpcastProduct).
	ProductCreatedDef = DefineUpcast(ProductCreated, "A product was added to the catalogue, before products had a price. v1 recorded no price: read as v2 with price 0 "+DefaultCurrency+".", ProductCreatedV2Def, UpcastProduct)
	ProductUpdatedDef = DefineUpcast(ProductUpdated, "A product's title or image changed, before products had a price; data is the whole product. v1 recorded no price: read as v2 with price 0 "+DefaultCurrency+".", ProductUpdatedV2Def, UpcastProduct)
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
// shop.product.updated.v1: the product's whole state after the change,
// before products had a price. It is read as ProductDataV2 (UpcastProduct).
type ProductData struct {
	ID    int64  `json:"id" minimum:"1" doc:"Product id"`
	Title string `json:"title" minLength:"1"`
	Image string `json:"image" minLength:"1" doc:"Image URL or file name, as given"`
}

func (d ProductData) Validate() error {
	return errors.Join(positive("id", d.ID), nonEmpty("title", d.Title), nonEmpty("image", d.Image))
}

// ProductDataV2 is the payload of shop.product.created.v2 and
// shop.product.updated.v2: the product's whole state after the change.
type ProductDataV2 struct {
	ID       int64  `json:"id" minimum:"1" doc:"Product id"`
	Title    string `json:"title" minLength:"1"`
	Image    string `json:"image" minLength:"1" doc:"Image URL or file name, as given"`
	Price    int64  `json:"price" minimum:"0" doc:"Price in minor units of currency: 1999 is 19.99"`
	Currency string `json:"currency" pattern:"^[A-Z]{3}$" doc:"ISO 4217 currency code, three upper-case letters"`
}

func (d ProductDataV2) Validate() error {
	var price, currency error
	if d.Price < 0 {
		price = errors.New("price must not be negative")
	}
	if !IsCurrency(d.Currency) {
		currency = fmt.Errorf("currency %q is not three upper-case letters (ISO 4217, such as EUR)", d.Currency)
	}
	return errors.Join(positive("id", d.ID), nonEmpty("title", d.Title), nonEmpty("image", d.Image), price, currency)
}

// UpcastProduct reads a v1 product as v2. v1 recorded no price: the price
// is 0 and the currency DefaultCurrency.
func UpcastProduct(d ProductData) ProductDataV2 {
	return ProductDataV2{ID: d.ID, Title: d.Title, Image: d.Image, Price: 0, Currency: DefaultCurrency}
}

// IsCurrency reports whether s has the shape of an ISO 4217 currency code:
// three upper-case ASCII letters. Whether the code is assigned is not
// checked.
func IsCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := range 3 {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
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
