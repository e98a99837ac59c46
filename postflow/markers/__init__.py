"""Review comments as markers for editing applications: timecode, and the EDL, FCPXML,
xmeml and CSV writers."""
