"""The objects and fields of the local org, as data.

Each object is an `ObjectDef` with `FieldDef`s; add a field or an object by adding a line here.
System fields (Id, IsDeleted, CreatedDate, LastModifiedDate, SystemModstamp) are added to every
stored object by `_object`. Types follow the describe `type` names: id, string, textarea, phone,
email, url, picklist, boolean, int, double, date, datetime, reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INTENTS = (
    "BookDemo",
    "OpeningHours",
    "SupportRequest",
    "BillingQuestion",
    "ChangeAddress",
    "OrderStatus",
    "CancelSubscription",
    "SpeakToHuman",
    "Unknown",
)
DISPOSITIONS = (
    "Resolved",
    "Transferred",
    "CallbackRequested",
    "Voicemail",
    "Abandoned",
    "Failed",
    "Unknown",
)
STRING_TYPES = frozenset(
    {"id", "string", "textarea", "phone", "email", "url", "picklist", "reference"}
)
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
LONG_TEXT = 131072


@dataclass(frozen=True)
class FieldDef:
    """One field; the flags mean what they mean in a Salesforce describe."""

    name: str
    type: str
    label: str = ""
    length: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    external_id: bool = False
    id_lookup: bool = False
    unique: bool = False
    picklist_values: tuple[str, ...] = ()
    restricted_picklist: bool = False
    default: object = None
    reference_to: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """Must be given on create: createable, not nillable, and no default."""
        return self.createable and not self.nillable and not self.defaulted_on_create

    @property
    def relationship_name(self) -> str | None:
        """`AccountId` → `Account`, `Parent__c` → `Parent__r`; None for non-references."""
        if self.type != "reference":
            return None
        if self.name.endswith("__c"):
            return self.name[:-3] + "__r"
        return self.name[:-2] if self.name.endswith("Id") else None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "length": self.length,
            "nillable": self.nillable,
            "createable": self.createable,
            "updateable": self.updateable,
            "defaultedOnCreate": self.defaulted_on_create,
            "externalId": self.external_id,
            "idLookup": self.id_lookup,
            "unique": self.unique,
            "custom": self.name.endswith("__c"),
            "restrictedPicklist": self.restricted_picklist,
            "picklistValues": [
                {
                    "active": True,
                    "defaultValue": value == self.default,
                    "label": value,
                    "value": value,
                }
                for value in self.picklist_values
            ],
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "defaultValue": self.default,
        }


@dataclass(frozen=True)
class ObjectDef:
    """One sObject type: its name, key prefix and fields (system fields included)."""

    name: str
    label: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    is_event: bool = False
    _by_lower: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for f in self.fields:
            self._by_lower[f.name.lower()] = f

    @property
    def custom(self) -> bool:
        return self.name.endswith(("__c", "__e"))

    def field(self, name: str) -> FieldDef | None:
        """The field called `name` (case-insensitive, as in SOQL and REST), or None."""
        return self._by_lower.get(name.lower())

    def describe_basic(self) -> dict:
        writable = not self.is_event
        return {
            "name": self.name,
            "label": self.label,
            "labelPlural": self.label + "s",
            "keyPrefix": self.key_prefix,
            "custom": self.custom,
            "createable": True,
            "updateable": writable,
            "deletable": writable,
            "queryable": writable,
            "retrieveable": writable,
            "searchable": False,
            "layoutable": writable,
            "urls": {},
        }


def _f(name: str, type_: str, length: int = 0, **flags: object) -> FieldDef:
    if type_ in ("string", "phone", "email", "url", "picklist") and not length:
        length = {"phone": 40, "email": 80}.get(type_, 255)
    if type_ == "textarea" and not length:
        length = 32000
    if type_ in ("id", "reference"):
        length = 18
    label = name.removesuffix("__c").replace("_", " ")
    return FieldDef(name=name, type=type_, length=length, label=label, **flags)  # type: ignore[arg-type]


def _required(name: str, type_: str, **flags: object) -> FieldDef:
    return _f(name, type_, nillable=False, **flags)


def _picklist(
    name: str, values: tuple[str, ...], *, restricted: bool = False, **flags: object
) -> FieldDef:
    return _f(name, "picklist", picklist_values=values, restricted_picklist=restricted, **flags)


def _defaulted(name: str, type_: str, default: object, **flags: object) -> FieldDef:
    return _f(name, type_, nillable=False, defaulted_on_create=True, default=default, **flags)


def _readonly(name: str, type_: str, length: int = 0, **flags: object) -> FieldDef:
    return _f(name, type_, length, createable=False, updateable=False, **flags)


def _ref(name: str, *targets: str, **flags: object) -> FieldDef:
    return _f(name, "reference", reference_to=targets, **flags)


def _call_id() -> FieldDef:
    """The canonical idempotency key: the workbench's call id."""
    return _f("Call_Id__c", "string", 64, external_id=True, unique=True, id_lookup=True)


def _system_fields() -> tuple[FieldDef, ...]:
    return (
        _f(
            "Id",
            "id",
            nillable=False,
            createable=False,
            updateable=False,
            id_lookup=True,
            defaulted_on_create=True,
        ),
        _defaulted("IsDeleted", "boolean", False, createable=False, updateable=False),
        _readonly("CreatedDate", "datetime", nillable=False, defaulted_on_create=True),
        _readonly("LastModifiedDate", "datetime", nillable=False, defaulted_on_create=True),
        _readonly("SystemModstamp", "datetime", nillable=False, defaulted_on_create=True),
    )


def _object(name: str, label: str, prefix: str, *fields: FieldDef) -> ObjectDef:
    return ObjectDef(name=name, label=label, key_prefix=prefix, fields=_system_fields() + fields)


_NAME_COMPUTED = _readonly("Name", "string", id_lookup=True)  # FirstName + " " + LastName

ACCOUNT = _object(
    "Account",
    "Account",
    "001",
    _required("Name", "string", id_lookup=True),
    _f("AccountNumber", "string", 40),
    _f("Phone", "phone"),
    _picklist("Type", ("Prospect", "Customer - Direct", "Customer - Channel", "Partner", "Other")),
    _f("Industry", "string", 40),
    _f("Website", "url"),
    _f("BillingCity", "string", 40),
    _f("BillingCountry", "string", 80),
    _f("Description", "textarea"),
    _defaulted("VIP__c", "boolean", False),
    _picklist("CustomerPriority__c", ("High", "Medium", "Low")),
)

CONTACT = _object(
    "Contact",
    "Contact",
    "003",
    _f("FirstName", "string", 40),
    _required("LastName", "string", length=80),
    _NAME_COMPUTED,
    _ref("AccountId", "Account"),
    _f("Title", "string", 128),
    _f("Phone", "phone"),
    _f("MobilePhone", "phone"),
    _f("Email", "email"),
    _f("Description", "textarea"),
)

LEAD = _object(
    "Lead",
    "Lead",
    "00Q",
    _f("FirstName", "string", 40),
    _required("LastName", "string", length=80),
    _NAME_COMPUTED,
    _required("Company", "string"),
    _f("Phone", "phone"),
    _f("MobilePhone", "phone"),
    _f("Email", "email"),
    _defaulted(
        "Status",
        "picklist",
        "Open - Not Contacted",
        length=255,
        restricted_picklist=True,
        picklist_values=(
            "Open - Not Contacted",
            "Working - Contacted",
            "Closed - Converted",
            "Closed - Not Converted",
        ),
    ),
    _picklist(
        "LeadSource", ("Web", "Phone Inquiry", "Partner Referral", "Other", "AI Voice Agent")
    ),
    _f("Description", "textarea"),
    _call_id(),
    _picklist("Intent__c", INTENTS, restricted=True),
    _f("Intent_Confidence__c", "double"),
    _f("Summary__c", "textarea"),
)

CASE = _object(
    "Case",
    "Case",
    "500",
    _readonly("CaseNumber", "string", 30, id_lookup=True),
    _f("Subject", "string"),
    _f("Description", "textarea"),
    _defaulted(
        "Status",
        "picklist",
        "New",
        length=255,
        picklist_values=("New", "Working", "Escalated", "Closed"),
    ),
    _defaulted(
        "Priority", "picklist", "Medium", length=255, picklist_values=("High", "Medium", "Low")
    ),
    _picklist("Origin", ("Phone", "Email", "Web", "AI Voice Agent")),
    _ref("ContactId", "Contact"),
    _ref("AccountId", "Account"),
    _picklist("Type", ("Problem", "Question", "Feature Request", "Cancellation", "Other")),
    _f("SuppliedName", "string", 80),
    _f("SuppliedEmail", "email", 80),
    _f("SuppliedPhone", "string", 40),
    _call_id(),
    _picklist("Intent__c", INTENTS, restricted=True),
    _f("Intent_Confidence__c", "double"),
    _f("Summary__c", "textarea"),
)

TASK = _object(
    "Task",
    "Task",
    "00T",
    _f("Subject", "string"),
    _defaulted(
        "Status",
        "picklist",
        "Not Started",
        length=255,
        picklist_values=("Not Started", "In Progress", "Completed", "Deferred"),
    ),
    _defaulted(
        "Priority", "picklist", "Normal", length=255, picklist_values=("High", "Normal", "Low")
    ),
    _ref("WhoId", "Contact", "Lead"),
    _ref("WhatId", "Account", "Case"),
    _f("ActivityDate", "date"),
    _f("Description", "textarea"),
    _f("CallDisposition", "string"),
    _f("CallDurationInSeconds", "int"),
    _f("CallObject", "string"),
    _picklist("CallType", ("Inbound", "Internal", "Outbound"), restricted=True),
    _picklist("TaskSubtype", ("Task", "Email", "Call")),
    _call_id(),
)

EVENT = _object(  # a calendar event: what a booking becomes (Salesforce's standard Event)
    "Event",
    "Event",
    "00U",
    _f("Subject", "string"),
    _required("StartDateTime", "datetime"),
    _f("EndDateTime", "datetime"),
    _f("DurationInMinutes", "int"),
    _f("Location", "string"),
    _f("Description", "textarea"),
    _ref("WhoId", "Contact", "Lead"),
    _ref("WhatId", "Account", "Case"),
    _call_id(),
)

VOICE_CALL = _object(
    "VoiceCall",
    "Voice Call",
    "0LQ",
    _readonly("Name", "string", 80, id_lookup=True),  # autonumber VC-00000001
    _picklist(
        "CallType",
        ("Callback", "Consult", "Inbound", "InternalCall", "Outbound", "Transfer"),
        restricted=True,
        nillable=False,
    ),
    _picklist("VendorType", ("ContactCenter", "Dialer", "PartnerTelephony")),
    _required("CallStartDateTime", "datetime"),
    _required("CallEndDateTime", "datetime"),
    _required("FromPhoneNumber", "phone"),
    _required("ToPhoneNumber", "phone"),
    _f("VendorCallKey", "string", id_lookup=True),
    _f("CallDisposition", "string"),
    _f("Description", "textarea"),
    _ref("RelatedRecordId", "Account", "Case", "Contact", "Lead"),
    _ref("PreviousCallId", "VoiceCall"),
    _ref("NextCallId", "VoiceCall"),
    _f("CallDurationInSeconds", "int"),
    _f("CallAcceptDateTime", "datetime"),
    _f("CallQueuedDateTime", "datetime"),
    _picklist("CallOrigin", ("Preview", "Progressive", "Voicemail"), restricted=True),
    _picklist("CallSubtype", ("PSTN", "WebRTC"), restricted=True),
    _defaulted(
        "CallResolution",
        "picklist",
        "Resolved",
        length=255,
        picklist_values=("Resolved", "Unresolved"),
    ),
    _f("QualityScore", "double"),
    _defaulted("IsRecorded", "boolean", False),
    _f("QueueName", "string"),
    _f("DisconnectReason", "string"),
    _call_id(),
    _picklist("Intent__c", INTENTS, restricted=True),
    _f("Intent_Confidence__c", "double"),
    _picklist("Disposition__c", DISPOSITIONS),
    _f("Transcript__c", "textarea", LONG_TEXT),
    _f("Recording_URL__c", "url"),
    _f("Duration__c", "double"),
    _f("StartTime__c", "datetime"),
    _f("EndTime__c", "datetime"),
    _f("Consent_Record__c", "string"),
    _f("PII_Redaction_Confidence__c", "double"),
    _f("Summary__c", "textarea"),
)

CALL_EVENT = ObjectDef(
    name="Call_Event__e",
    label="Call Event",
    key_prefix="e01",
    is_event=True,
    fields=(
        _readonly("ReplayId", "string"),
        _readonly("EventUuid", "string", 36),
        _readonly("CreatedDate", "datetime", nillable=False, defaulted_on_create=True),
        _f("Call_Id__c", "string", 64),
        _f("Type__c", "string", 80),
        _f("Payload__c", "textarea", LONG_TEXT),
        _f("Occurred_At__c", "datetime"),
    ),
)

OBJECTS: dict[str, ObjectDef] = {
    obj.name: obj for obj in (ACCOUNT, CONTACT, LEAD, CASE, TASK, EVENT, VOICE_CALL, CALL_EVENT)
}
_BY_LOWER = {name.lower(): obj for name, obj in OBJECTS.items()}
_BY_PREFIX = {obj.key_prefix: obj for obj in OBJECTS.values()}


def find_object(name: str) -> ObjectDef | None:
    """The object called `name` (case-insensitive), or None."""
    return _BY_LOWER.get(name.lower())


def object_for_id(record_id: str) -> ObjectDef | None:
    """The object whose key prefix starts `record_id`, or None."""
    return _BY_PREFIX.get(record_id[:3])
