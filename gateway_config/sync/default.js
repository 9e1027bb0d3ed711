// The rig's default sync function: Sync Gateway's own default routing
// (a document goes to the channels its "channels" property names), plus an
// owner check so that a device may only write documents it owns.
function (doc, oldDoc, meta) {
  if (doc._deleted) {
    if (oldDoc && oldDoc.owner) {
      requireUser(oldDoc.owner);
    }
    return;
  }
  if (doc.owner) {
    if (oldDoc && oldDoc.owner && oldDoc.owner !== doc.owner) {
      throw({forbidden: "owner changed"});
    }
    requireUser(doc.owner);
  }
  channel(doc.channels);
}
