"""Postmortems of incidents and their action items (see ``ops postmortem`` and ``ops action``).

``service`` gathers facts, renders and publishes postmortems; ``actions``
keeps action items; ``timeline``, ``impact`` and ``flowrun`` read the
sources a postmortem is built from; ``render`` writes the Markdown.
"""
