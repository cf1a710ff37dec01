FAKE = "student copy"
