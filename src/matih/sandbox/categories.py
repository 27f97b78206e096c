"""The seed's 20 NovaMart categories and how their demand behaves.

The numbers are chosen so the simulated store looks like the seed's: a few seasonal categories whose
demand swings by an order of magnitude over the year (the ones Prophet wins in Stage 8), gift categories
that jump at Black Friday and Christmas, Valentine's categories, and steady staples.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Category:
    name: str
    #: subcategory -> product nouns (names are "<adjective> <noun>")
    subcategories: dict[str, tuple[str, ...]]
    adjectives: tuple[str, ...]
    #: median list price in dollars
    price: float
    #: relative volume of the category's products
    volume: float = 1.0
    #: day of year of the seasonal peak, and its strength (0 = flat; 1.5 = ~20x peak/trough)
    peak_doy: int = 180
    seasonality: float = 0.1
    seasonal_flag: bool = False
    #: weekly profile Mon..Sun (normalised to mean 1 by the generator)
    weekly: tuple[float, ...] = (1.0, 0.97, 0.97, 1.0, 1.05, 1.15, 1.1)
    #: multipliers on Black Friday weekend, the Christmas run-up and Valentine's week
    black_friday: float = 1.5
    christmas: float = 1.2
    valentines: float = 1.0
    #: price elasticity of demand (uplift = (1 - discount) ** -elasticity)
    elasticity: float = 2.0
    #: share of the category's products that are intermittent long-tail sellers
    tail_share: float = 0.15
    owner: str = "sofia@novamart.com"
    extra: dict[str, float] = field(default_factory=dict)


WEEKEND = (0.9, 0.88, 0.9, 0.95, 1.05, 1.35, 1.3)
WEEKDAY = (1.2, 1.2, 1.15, 1.15, 1.05, 0.6, 0.55)
FLAT = (1.0, 0.98, 0.98, 1.0, 1.02, 1.03, 1.0)

CATEGORIES: tuple[Category, ...] = (
    Category(
        "Electronics",
        {
            "Audio": ("Noise-Cancel Buds", "Bluetooth Speaker", "Headphones"),
            "Accessories": ("USB-C Cable", "Power Bank", "Phone Case"),
            "Smart Home": ("Smart Plug", "Video Doorbell", "Wi-Fi Bulb"),
        },
        ("Wireless", "Compact", "Pro", "Ultra", "Smart"),
        59.0,
        1.3,
        black_friday=3.0,
        christmas=1.8,
        elasticity=2.5,
    ),
    Category(
        "Clothing",
        {
            "Tops": ("Cotton T-Shirt", "Linen Shirt", "Hoodie"),
            "Bottoms": ("Slim Jeans", "Chino Shorts", "Joggers"),
            "Basics": ("Crew Socks 3-Pack", "Boxer Briefs", "Tank Top"),
        },
        ("Organic", "Classic", "Relaxed", "Everyday", "Premium"),
        29.0,
        1.2,
        peak_doy=150,
        seasonality=0.25,
        weekly=WEEKEND,
        black_friday=2.0,
        christmas=1.4,
        elasticity=2.8,
    ),
    Category(
        "Home & Garden",
        {
            "Kitchen": ("Water Bottle", "Storage Jar", "Cutting Board"),
            "Decor": ("Throw Pillow", "Scented Candle", "Picture Frame"),
            "Bath": ("Bath Towel", "Shower Caddy", "Bath Mat"),
        },
        ("Stainless Steel", "Bamboo", "Ceramic", "Minimal", "Rustic"),
        24.0,
        1.1,
        weekly=WEEKEND,
    ),
    Category(
        "Beauty",
        {
            "Skincare": ("Vitamin C Serum 30ml", "Night Cream", "Face Cleanser"),
            "Makeup": ("Matte Lipstick", "Mascara", "Foundation"),
            "Hair": ("Argan Shampoo", "Hair Mask", "Dry Shampoo"),
        },
        ("Hydrating", "Gentle", "Radiant", "Vegan", "Daily"),
        22.0,
        1.2,
        valentines=1.5,
        christmas=1.3,
    ),
    Category(
        "Sports & Outdoors",
        {
            "Fitness": ("Resistance Band Set", "Yoga Mat", "Kettlebell"),
            "Camping": ("Headlamp", "Camp Chair", "Dry Bag"),
            "Cycling": ("Bike Light", "Water Cage", "Saddle Bag"),
        },
        ("Durable", "Lightweight", "Trail", "Pro", "All-Weather"),
        34.0,
        1.0,
        peak_doy=20,
        seasonality=0.3,
        weekly=WEEKEND,
    ),
    Category(
        "Books & Media",
        {
            "Fiction": ("Mystery Novel", "Fantasy Saga", "Short Stories"),
            "Non-Fiction": ("Cookbook", "Biography", "Field Guide"),
            "Media": ("Vinyl Record", "Board Game Guide", "Audio CD"),
        },
        ("Bestselling", "Illustrated", "Collected", "Pocket", "Deluxe"),
        16.0,
        0.9,
        weekly=FLAT,
        christmas=1.5,
        elasticity=1.5,
    ),
    Category(
        "Food & Grocery",
        {
            "Pantry": ("Olive Oil 1L", "Pasta 500g", "Rice 2kg"),
            "Snacks": ("Trail Mix", "Protein Bar Box", "Dark Chocolate"),
            "Beverages": ("Cold Brew Coffee", "Green Tea 50ct", "Sparkling Water 12pk"),
        },
        ("Organic", "Family Size", "Artisan", "Classic", "Gourmet"),
        9.0,
        1.6,
        weekly=WEEKEND,
        christmas=1.3,
        valentines=1.2,
        elasticity=1.8,
    ),
    Category(
        "Toys & Games",
        {
            "Building": ("Brick Set", "Marble Run", "Magnet Tiles"),
            "Games": ("Card Game", "Puzzle 1000pc", "Strategy Board Game"),
            "Plush": ("Teddy Bear", "Dinosaur Plush", "Bunny Plush"),
        },
        ("Creative", "Classic", "Junior", "Family", "Deluxe"),
        27.0,
        1.0,
        peak_doy=350,
        seasonality=0.35,
        weekly=WEEKEND,
        black_friday=2.5,
        christmas=2.4,
        elasticity=2.2,
    ),
    Category(
        "Automotive",
        {
            "Care": ("Car Wax", "Microfiber Towels", "Glass Cleaner"),
            "Accessories": ("Phone Mount", "Seat Organizer", "Floor Mats"),
            "Tools": ("Tire Inflator", "Jump Starter", "Socket Set"),
        },
        ("Heavy-Duty", "Universal", "Premium", "Compact", "Quick"),
        31.0,
        0.7,
        weekly=WEEKEND,
    ),
    Category(
        "Pet Supplies",
        {
            "Dog": ("Chew Toy", "Dog Leash", "Dog Bed"),
            "Cat": ("Cat Scratcher", "Cat Litter 10kg", "Feather Wand"),
            "Food": ("Salmon Kibble 5kg", "Dental Treats", "Wet Food 12pk"),
        },
        ("Natural", "Durable", "Cozy", "Grain-Free", "Everyday"),
        19.0,
        1.1,
        weekly=FLAT,
        elasticity=1.6,
    ),
    Category(
        "Jewelry",
        {
            "Necklaces": ("Pendant Necklace", "Chain Necklace", "Locket"),
            "Rings": ("Stacking Ring", "Signet Ring", "Band Ring"),
            "Earrings": ("Hoop Earrings", "Stud Earrings", "Drop Earrings"),
        },
        ("Sterling Silver", "Gold-Plated", "Minimal", "Vintage", "Gemstone"),
        49.0,
        0.6,
        black_friday=2.0,
        christmas=1.9,
        valentines=3.0,
        elasticity=2.4,
    ),
    Category(
        "Office Supplies",
        {
            "Paper": ("Notebook A5", "Sticky Notes", "Printer Paper"),
            "Writing": ("Gel Pens 12pk", "Highlighters", "Fountain Pen"),
            "Desk": ("Desk Organizer", "Monitor Stand", "Desk Lamp"),
        },
        ("Recycled", "Classic", "Ergonomic", "Compact", "Premium"),
        14.0,
        0.9,
        peak_doy=240,
        seasonality=0.3,
        weekly=WEEKDAY,
        elasticity=1.7,
    ),
    Category(
        "Garden (Seasonal)",
        {
            "Planting": ("Seed Starter Kit", "Raised Bed", "Potting Soil 20L"),
            "Tools": ("Pruning Shears", "Garden Hose 25m", "Trowel Set"),
            "Lawn": ("Lawn Seed", "Sprinkler", "Weed Puller"),
        },
        ("Heavy-Duty", "Ergonomic", "Organic", "Expandable", "Classic"),
        26.0,
        1.0,
        peak_doy=125,
        seasonality=1.6,
        seasonal_flag=True,
        weekly=WEEKEND,
        black_friday=1.0,
        christmas=0.8,
    ),
    Category(
        "Holiday Decor",
        {
            "Lights": ("String Lights 10m", "Star Topper", "Window Lights"),
            "Ornaments": ("Glass Ornament Set", "Wreath", "Advent Calendar"),
            "Tableware": ("Festive Napkins", "Candle Holder", "Table Runner"),
        },
        ("Festive", "Warm White", "Classic", "Handmade", "Sparkling"),
        21.0,
        1.0,
        peak_doy=345,
        seasonality=2.0,
        seasonal_flag=True,
        weekly=WEEKEND,
        black_friday=1.6,
        christmas=1.3,
    ),
    Category(
        "Swimwear",
        {
            "Women": ("One-Piece Swimsuit", "Bikini Set", "Cover-Up"),
            "Men": ("Swim Trunks", "Board Shorts", "Rash Guard"),
            "Kids": ("Kids Swimsuit", "Swim Goggles", "Floatie Vest"),
        },
        ("Quick-Dry", "UV-Protect", "Classic", "Tropical", "Sport"),
        32.0,
        0.9,
        peak_doy=175,
        seasonality=1.7,
        seasonal_flag=True,
        weekly=WEEKEND,
        black_friday=1.1,
        christmas=0.7,
    ),
    Category(
        "Winter Apparel",
        {
            "Outerwear": ("Down Jacket", "Parka", "Fleece Vest"),
            "Accessories": ("Wool Beanie", "Thermal Gloves", "Knit Scarf"),
            "Base Layers": ("Thermal Top", "Merino Leggings", "Wool Socks"),
        },
        ("Insulated", "Merino", "Waterproof", "Cozy", "Alpine"),
        45.0,
        0.9,
        peak_doy=10,
        seasonality=1.5,
        seasonal_flag=True,
        weekly=WEEKEND,
        black_friday=2.2,
        christmas=1.5,
    ),
    Category(
        "Baby Products",
        {
            "Feeding": ("Baby Bottle Set", "Bib Pack", "Sippy Cup"),
            "Care": ("Baby Wipes 12pk", "Diaper Cream", "Baby Lotion"),
            "Nursery": ("Swaddle Blanket", "Night Light", "Crib Sheet"),
        },
        ("Gentle", "Organic", "Soft", "Everyday", "Sensitive"),
        18.0,
        1.0,
        weekly=FLAT,
        elasticity=1.5,
    ),
    Category(
        "Health Supplements",
        {
            "Vitamins": ("Vitamin D3", "Multivitamin", "Vitamin C 1000mg"),
            "Protein": ("Whey Protein 1kg", "Plant Protein", "Collagen Powder"),
            "Wellness": ("Magnesium", "Omega-3", "Probiotic"),
        },
        ("Daily", "High-Strength", "Vegan", "Pure", "Advanced"),
        24.0,
        1.1,
        peak_doy=15,
        seasonality=0.25,
        weekly=FLAT,
        elasticity=1.6,
    ),
    Category(
        "Kitchen Appliances",
        {
            "Small": ("Electric Kettle", "Hand Blender", "Toaster"),
            "Coffee": ("Espresso Maker", "Coffee Grinder", "Milk Frother"),
            "Cooking": ("Air Fryer", "Rice Cooker", "Slow Cooker"),
        },
        ("Compact", "Stainless", "Digital", "Pro", "Quiet"),
        69.0,
        0.8,
        black_friday=2.8,
        christmas=1.6,
        elasticity=2.6,
    ),
    Category(
        "Outdoor Furniture",
        {
            "Seating": ("Patio Chair", "Hammock", "Garden Bench"),
            "Tables": ("Bistro Table", "Side Table", "Picnic Table"),
            "Shade": ("Parasol", "Gazebo", "Shade Sail"),
        },
        ("Teak", "Weatherproof", "Folding", "Rattan", "Classic"),
        89.0,
        0.7,
        peak_doy=150,
        seasonality=1.8,
        seasonal_flag=True,
        weekly=WEEKEND,
        black_friday=1.0,
        christmas=0.6,
    ),
)

CATEGORY_NAMES: tuple[str, ...] = tuple(c.name for c in CATEGORIES)
