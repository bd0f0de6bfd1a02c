mesh::namespace!(pub SYSTEM = "System");

fn main() {}
