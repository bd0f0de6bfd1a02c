static SYSTEM: u32 = 1;

mesh::namespace!(pub PROVIDER = "provider" in SYSTEM);

fn main() {}
