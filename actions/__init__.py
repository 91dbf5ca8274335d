"""The rasa-sdk action server of LWOO-assistent.

One module per concern: ``faq`` (answers, clarification, follow-ups), ``records``
(typed store of the school's records), ``verification`` (who may see what),
``messaging`` (e-mail out), ``status`` (the own-child status flow and its form),
``feedback`` (👍/👎 on answers), ``handoff`` (callback requests to the care desk) and
``masking`` (personal data out of free text for staff).
rasa-sdk imports every module of this package; none of them opens a connection at import.
"""
