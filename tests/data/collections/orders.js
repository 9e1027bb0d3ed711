// shop.orders: only the owner may write an order; it goes to the owner's orders channel.
function (doc, oldDoc) {
  requireUser(doc.owner);
  channel("orders-" + doc.owner);
}
