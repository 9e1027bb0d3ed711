// shop.notes: anyone may write; a note goes to its owner's notes channel.
function (doc, oldDoc) {
  channel("notes-" + doc.owner);
}
