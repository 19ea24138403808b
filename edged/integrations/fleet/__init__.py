"""Fleet gallery sync: one retained, signed MQTT message per person, shared by every device.

The record carries the person's embeddings and the sha256 of the model that
made them — never images — so a device can only use it with the very same
model. It is the person's whole current state, ordered by the person's
revision ``rev`` (never by a clock), which makes it idempotent and lets a
device that joins later rebuild the gallery from the broker's retained
messages alone. A deletion is a signed, retained record with ``"deleted":
true`` (a tombstone); a rename is a deletion of the old name plus the new
name's state.

Trust: a record enrolls a face on every device, so each one is signed with
Ed25519. The message is ``{"v": 2, "signer", "record", "sig"}`` where
``record`` is the record's JSON text and ``sig`` the base64 signature over
``"frd-gallery-v2\n" + topic + "\n" + record`` (the topic is signed, so a
record cannot be moved to another name). ``signer`` is a device id whose
public key is in ``fleet.trusted_keys`` (and must equal the record's
``origin``), or ``authority`` for a key in ``fleet.authority_keys``. A device
may create people and change or delete the people it enrolled; only the
authority may change a person another device enrolled (see README "Who may
enroll").

Modules: :mod:`.record` (the signed message and the record in it), :mod:`.trust` (who may sign),
:mod:`.ledger` (each person's newest revision, deletions included: what orders records, so that neither a clock
nor a replayed record can bring a deleted person back), :mod:`.sync` (in ``frd
run``, :class:`~.sync.FleetSync` is the component that does all this: a listener and a guard of the people
service) and :mod:`.admin` (``python -m edged.integrations.fleet``: the administrator's keys and signed records).
"""
